import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../lib/cli';
import { planAsMarkdown, promote, PromotionRefused, verifyPromotionHistory } from '../promote/main';
import { renderEnvironment } from '../render-diff/main';
import {
  DIGEST,
  freshRepoForEachTest,
  GitopsRepo,
  IMAGES_PATH,
  refusalOf,
  revisionFile,
  runTool,
  SHA,
} from './support/gitops-repo';

// The promotion path on real git: a bare "origin" that plays GitHub, a clone that plays the workstation
// or the runner, pull requests as branches merged into main, and each environment rendered by real
// kustomize from the commit Argo CD would render it from (dev: main; staging and prod: their pinned commit).
class Remote {
  readonly scratch = mkdtempSync(join(tmpdir(), 'promote-'));
  readonly origin = join(this.scratch, 'origin.git');
  readonly work = join(this.scratch, 'work');

  constructor(fixture: GitopsRepo) {
    execFileSync('git', ['clone', '--quiet', '--bare', fixture.root, this.origin]);
    execFileSync('git', ['clone', '--quiet', this.origin, this.work]);
    this.git('config', 'user.email', 'someone@opsforge.invalid');
    this.git('config', 'user.name', 'someone');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.work, ...args], { encoding: 'utf8' }).trim();
  }

  read(path: string): string {
    return readFileSync(join(this.work, path), 'utf8');
  }

  edit(path: string, change: (text: string) => string): void {
    writeFileSync(join(this.work, path), change(this.read(path)));
  }

  /** Starts a pull request: a branch from the current origin/main. */
  branch(name: string): void {
    this.git('fetch', '--quiet', 'origin');
    this.git('switch', '--quiet', '-C', name, 'origin/main');
  }

  commit(message: string): string {
    this.git('commit', '--quiet', '-am', message);
    return this.git('rev-parse', 'HEAD');
  }

  /** Merges the current branch into main on origin, as the merge button does (a merge commit). */
  merge(): string {
    const branch = this.git('rev-parse', '--abbrev-ref', 'HEAD');
    this.git('switch', '--quiet', '-C', 'main', 'origin/main');
    this.git('merge', '--quiet', '--no-ff', '-m', `Merge ${branch}`, branch);
    this.git('push', '--quiet', 'origin', 'main');
    this.git('fetch', '--quiet', 'origin');
    return this.git('rev-parse', 'HEAD');
  }

  /** What Argo CD deploys to `env` with main where origin has it: one object's text. */
  deployed(env: string, key: string): string {
    return renderEnvironment(this.work, 'origin/main', env as 'dev').get(key.replace('<env>', env))!;
  }

  /** The check ci.yml runs on every trigger. */
  verify() {
    return runTool('promote', ['--verify', '--main', 'origin/main'], this.work);
  }

  remove(): void {
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

const workerReplicas = (remote: Remote, env: string) =>
  /^ {2}replicas: (\d+)$/m.exec(remote.deployed(env, 'Deployment <env>/worker'))![1];

describe('promotion on real git: images, base, rollouts and env config travel together', () => {
  let fixture: GitopsRepo;
  let remote: Remote;
  beforeEach(() => {
    fixture = new GitopsRepo();
    remote = new Remote(fixture);
  });
  afterEach(() => {
    remote.remove();
    fixture.remove();
  });

  it('a base change lands in dev at once, in staging after the staging PR, in prod only after the prod PR', () => {
    remote.branch('two-workers');
    remote.edit('gitops/base/worker.yaml', (text) => text.replace('replicas: 1', 'replicas: 2'));
    remote.commit('two workers');
    remote.merge();

    expect(workerReplicas(remote, 'dev')).toBe('2');
    expect(workerReplicas(remote, 'staging')).toBe('1');
    expect(workerReplicas(remote, 'prod')).toBe('1');
    expect(remote.verify().status).toBe(0);

    remote.branch('promote/staging');
    const staging = runTool('promote', ['--to', 'staging', '--markdown'], remote.work);
    expect(staging.status).toBe(0);
    expect(staging.stdout).toContain('two workers');
    remote.commit('staging: promote what dev runs');
    expect(remote.verify().status).toBe(0);
    remote.merge();

    expect(workerReplicas(remote, 'staging')).toBe('2');
    expect(workerReplicas(remote, 'prod')).toBe('1');

    remote.branch('promote/prod');
    expect(runTool('promote', ['--to', 'prod'], remote.work).status).toBe(0);
    remote.commit('prod: promote what staging runs');
    const check = remote.verify();
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/^ok: prod [0-9a-f]{12} ran in staging/m);
    expect(workerReplicas(remote, 'prod')).toBe('1'); // the pull request is open, not merged
    remote.merge();

    expect(workerReplicas(remote, 'prod')).toBe('2');
  });

  it('refuses a prod pull request that would skip staging: by the tool, and by the check on a hand edit', () => {
    remote.branch('new-image');
    remote.edit(IMAGES_PATH, (text) => text.replace(DIGEST.a, DIGEST.b));
    remote.commit('dev: deploy a new api');
    const devRuns = remote.merge();

    const tool = runTool('promote', ['--from', 'dev', '--to', 'prod'], remote.work);
    expect(tool.status).toBe(1);
    expect(tool.stderr).toContain('refusing to promote dev -> prod: it would skip staging');

    remote.branch('prod-by-hand');
    writeFileSync(join(remote.work, 'gitops/envs/prod/revision.yaml'), revisionFile(devRuns));
    remote.commit('prod: what dev runs');
    const check = remote.verify();
    expect(check.status).toBe(1);
    expect(check.stdout).toContain(`refused: prod ${devRuns} never ran in staging`);
    expect(remote.deployed('prod', 'Deployment <env>/api')).toContain(`@${DIGEST.a}`);
  });

  it('refuses staging and prod moved together in one commit, even once it is on main (pushed past review)', () => {
    remote.branch('both');
    const head = remote.git('rev-parse', 'origin/main');
    for (const env of ['staging', 'prod'])
      writeFileSync(join(remote.work, `gitops/envs/${env}/revision.yaml`), revisionFile(head));
    remote.commit('staging and prod at once');
    remote.merge();

    const check = remote.verify();

    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(
      new RegExp(`refused: prod ${head} was pinned at [0-9a-f]{12}, not after staging ran it`),
    );
  });

  it('judges a pull request by main, never by the branch: dev set on the branch does not count', () => {
    remote.branch('sneaky');
    remote.edit(IMAGES_PATH, (text) => text.replace(DIGEST.a, DIGEST.c));
    const own = remote.commit('set dev on the branch ...');
    writeFileSync(join(remote.work, 'gitops/envs/staging/revision.yaml'), revisionFile(own));
    remote.commit('... and pin staging to it');

    const check = remote.verify();

    expect(check.status).toBe(1);
    expect(check.stdout).toContain(`refused: staging ${own} is not a commit main has been at`);
    // Against the branch's own history the same tree passes: which history counts is the whole check.
    expect(runTool('promote', ['--verify', '--main', 'HEAD~1'], remote.work).status).toBe(0);
  });
});

describe('promote: pin an environment to the commit the one before it runs', () => {
  let repo: GitopsRepo;
  const main = () => repo.git('rev-parse', 'main').trim();
  freshRepoForEachTest((fresh) => {
    repo = fresh;
    repo.setImages([SHA.b, DIGEST.b], [SHA.c, DIGEST.c]);
    repo.commit('dev: deploy b and c');
  });

  it('pins staging to the commit main is at, and lists the images and manifest commits it carries', () => {
    repo.edit('gitops/base/api.yaml', (text) => text.replace('3000', '3100'));
    const portChange = repo.commit('api: port 3100');

    const plan = promote({ root: repo.root, to: 'staging', main: 'main' });

    expect(plan).toMatchObject({
      from: 'dev',
      to: 'staging',
      previousRevision: repo.initialCommit,
      revision: portChange,
      alreadyCurrent: false,
      images: [
        { service: 'api', before: { tag: SHA.a, digest: DIGEST.a }, after: { tag: SHA.b, digest: DIGEST.b } },
        {
          service: 'worker',
          before: { tag: SHA.a, digest: DIGEST.a },
          after: { tag: SHA.c, digest: DIGEST.c },
        },
      ],
    });
    expect(plan.manifestCommits.map((line) => line.replace(/^\S+ /, ''))).toEqual([
      'api: port 3100',
      'dev: deploy b and c',
    ]);
    expect(repo.changedFiles()).toEqual([repo.revisionPath('staging')]);
    expect(repo.changedLines(repo.revisionPath('staging'))).toEqual({
      removed: [`targetRevision: ${repo.initialCommit}`],
      added: [`targetRevision: ${portChange}`],
    });
    const body = planAsMarkdown(plan);
    expect(body).toContain(
      `| \`ghcr.io/opsforge/api\` | \`:${SHA.a}@${DIGEST.a}\` | \`:${SHA.b}@${DIGEST.b}\` |`,
    );
    expect(body).toContain('api: port 3100');
  });

  it('is idempotent: a second promotion finds nothing to do and writes nothing', () => {
    promote({ root: repo.root, to: 'staging', main: 'main' });
    repo.commit('staging: promote');

    const again = promote({ root: repo.root, to: 'prod', main: 'main' });
    repo.commit('prod: promote');
    const third = promote({ root: repo.root, to: 'prod', main: 'main' });

    expect(again.alreadyCurrent).toBe(false);
    expect(third.alreadyCurrent).toBe(true);
    expect(planAsMarkdown(third)).toContain('already runs');
    expect(repo.changedFiles()).toEqual([]);
  });

  it("takes prod's commit from staging on main, never from dev and never from the working tree", () => {
    repo.write(repo.revisionPath('staging'), revisionFile(main()));

    const plan = promote({ root: repo.root, to: 'prod', main: 'main' });

    expect(plan.from).toBe('staging');
    expect(plan.revision).toBe(repo.initialCommit);
    expect(plan.alreadyCurrent).toBe(true);
  });

  it('refuses a --revision main has never been at (a pull request branch commit)', () => {
    repo.git('switch', '-q', '-c', 'feature');
    repo.edit('gitops/base/api.yaml', (text) => text.replace('3000', '3200'));
    const unmerged = repo.commit('unreviewed');
    repo.git('switch', '-q', 'main');

    expect(() => promote({ root: repo.root, to: 'staging', revision: unmerged, main: 'main' })).toThrow(
      `refusing to promote dev -> staging: ${unmerged} is not a commit main has been at, so dev never ran it`,
    );
    expect(repo.changedFiles()).toEqual([]);
  });

  it('refuses a prod --revision staging does not run', () => {
    const result = runTool('promote', ['--to', 'prod', '--revision', main(), '--main', 'main'], repo.root);

    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `refusing to promote staging -> prod: staging runs ${repo.initialCommit}, not ${main()}`,
    );
    expect(repo.changedFiles()).toEqual([]);
  });

  it('refuses a digest the source environment does not run, and accepts the one it runs', () => {
    const result = runTool(
      'promote',
      ['--to', 'staging', '--digest', `api=${DIGEST.d}`, '--main', 'main'],
      repo.root,
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`dev runs ghcr.io/opsforge/api@${DIGEST.b}`);
    expect(result.stderr).toContain(`not ${DIGEST.d}`);
    expect(repo.changedFiles()).toEqual([]);

    const plan = promote({ root: repo.root, to: 'staging', digests: [`api=${DIGEST.b}`], main: 'main' });
    expect(plan.revision).toBe(main());
  });

  it('refuses a commit that names an image without its digest: only what release.yml built moves on', () => {
    repo.edit(IMAGES_PATH, (text) => text.replace(`    digest: ${DIGEST.c}\n`, ''));
    repo.commit('worker by tag alone');

    expect(() => promote({ root: repo.root, to: 'staging', main: 'main' })).toThrow(
      /names ghcr\.io\/opsforge\/worker:c{40} in gitops\/images\/kustomization\.yaml: only an image release\.yml built/,
    );
  });

  it('refuses to move an environment backwards: a rollback is the revert of a promotion', () => {
    promote({ root: repo.root, to: 'staging', main: 'main' });
    repo.commit('staging: promote');

    expect(() =>
      promote({ root: repo.root, to: 'staging', revision: repo.initialCommit, main: 'main' }),
    ).toThrow(/promotion only moves forward; to roll back, revert the promotion commit/);
  });

  // In-process: the same validation the command runs; the exit statuses are checked once each below.
  it.each([
    [{ from: 'staging', to: 'dev' }, UsageError, 'nothing is promoted into dev: it follows main'],
    [
      { from: 'prod', to: 'staging' },
      PromotionRefused,
      'refusing to promote prod -> staging: promotion only moves forward',
    ],
    [{ from: 'dev', to: 'prod' }, PromotionRefused, 'refusing to promote dev -> prod: it would skip staging'],
    [{ to: 'qa' }, UsageError, 'unknown environment "qa" for --to'],
    [{ to: 'staging', digests: ['web=sha256:00'] }, UsageError, 'unknown service "web"'],
    [{ to: 'staging', digests: ['api=latest'] }, UsageError, 'malformed image digest "latest"'],
    [
      { to: 'staging', revision: 'no-such-commit' },
      UsageError,
      '--revision "no-such-commit" is not a commit',
    ],
    [{ to: 'staging', main: 'no-such-branch' }, UsageError, '--main "no-such-branch" is not a commit'],
  ])('refuses %j (%p) and writes nothing', (request, kind, message) => {
    const refusal = refusalOf(() => promote({ root: repo.root, main: 'main', ...request }));
    expect(refusal).toBeInstanceOf(kind);
    expect(refusal.message).toContain(message);
    expect(repo.changedFiles()).toEqual([]);
  });

  it.each([
    [['--to', 'qa'], 'unknown environment "qa" for --to'],
    [['--verify', '--to', 'staging'], '--verify changes nothing and takes no --to'],
    [['--to', 'staging'], '--main "origin/main" is not a commit'],
  ])('as a command, refuses %j with exit status 2', (args, message) => {
    const result = runTool('promote', args, repo.root);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('--dry-run --markdown prints the pull request body without writing', () => {
    const result = runTool(
      'promote',
      ['--to', 'staging', '--dry-run', '--markdown', '--main', 'main'],
      repo.root,
    );

    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`Pins \`staging\` to \`${main()}\``);
    expect(result.stdout).toContain('Only `gitops/envs/staging/revision.yaml` changes');
    expect(repo.changedFiles()).toEqual([]);
  });

  it('prints usage for --help', () => {
    const result = runTool('promote', ['--help'], repo.root);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run promote -- --to <staging\|prod>/);
  });
});

describe('promote --verify: the revision files against main', () => {
  let repo: GitopsRepo;
  freshRepoForEachTest((fresh) => (repo = fresh));

  it('accepts the tree the tools made: dev follows main, staging at a commit of main, prod after staging', () => {
    const check = verifyPromotionHistory(repo.root, 'main');
    expect(check).toEqual({
      ok: true,
      lines: [
        'ok: dev follows main',
        `ok: staging ${repo.initialCommit.slice(0, 12)} is a commit main (dev) has been at`,
        expect.stringMatching(
          new RegExp(
            `^ok: prod ${repo.initialCommit.slice(0, 12)} ran in staging \\(pinned at [0-9a-f]{12}\\)$`,
          ),
        ),
      ],
    });
  });

  it.each([
    ['dev', 'targetRevision: HEAD\n', 'refused: dev must follow main (targetRevision: main), not "HEAD"'],
    [
      'staging',
      'targetRevision: main\n',
      'refused: staging is pinned to "main", not a full commit sha of main',
    ],
    ['prod', 'revision: main\n', 'refused: prod is pinned to "(nothing)", not a full commit sha of main'],
  ])('refuses %s with %j', (env, text, line) => {
    repo.write(repo.revisionPath(env), text);
    expect(verifyPromotionHistory(repo.root, 'main').lines).toContain(line);
  });

  it('refuses a pinned commit whose images are named by tag alone', () => {
    repo.edit(IMAGES_PATH, (text) => text.replace(`    digest: ${DIGEST.a}\n`, ''));
    const byTag = repo.commit('api by tag alone');
    repo.write(repo.revisionPath('staging'), revisionFile(byTag));

    const check = verifyPromotionHistory(repo.root, 'main');

    expect(check.ok).toBe(false);
    expect(check.lines.join('\n')).toContain(
      `refused: staging: commit ${byTag.slice(0, 12)} names ghcr.io/opsforge/api:${SHA.a} in`,
    );
  });
});

describe('promote --running: the digests staging and prod run, for the daily rescan', () => {
  let repo: GitopsRepo;
  freshRepoForEachTest((fresh) => (repo = fresh));

  it('lists each digest once with the environments that run it, read from main', () => {
    repo.setImages([SHA.b, DIGEST.b], [SHA.a, DIGEST.a]);
    const newer = repo.commit('dev: deploy api b');
    repo.write(repo.revisionPath('staging'), revisionFile(newer));
    repo.commit('staging: promote');

    const result = runTool('promote', ['--running', '--main', 'main'], repo.root);

    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { service: 'api', image: `ghcr.io/opsforge/api@${DIGEST.b}`, tag: SHA.b, environments: ['staging'] },
      {
        service: 'worker',
        image: `ghcr.io/opsforge/worker@${DIGEST.a}`,
        tag: SHA.a,
        environments: ['staging', 'prod'],
      },
      { service: 'api', image: `ghcr.io/opsforge/api@${DIGEST.a}`, tag: SHA.a, environments: ['prod'] },
    ]);
  });
});
