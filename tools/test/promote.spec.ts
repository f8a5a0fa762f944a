import { UsageError } from '../lib/cli';
import { planAsMarkdown, promote, PromotionRefused } from '../promote/main';
import { GitopsRepo, runTool, SHA } from './support/gitops-repo';

describe('promote: move the tags one environment runs into the next', () => {
  let repo: GitopsRepo;
  beforeEach(() => {
    // dev runs a newer api (b) and worker (c) than staging and prod (a).
    repo = new GitopsRepo({ dev: [SHA.b, SHA.c], staging: [SHA.a, SHA.a], prod: [SHA.a, SHA.a] });
  });
  afterEach(() => repo.remove());

  it("copies the tags dev runs into staging and changes nothing but staging's tag lines", () => {
    const plan = promote({ root: repo.root, to: 'staging' });

    expect(plan).toEqual({
      from: 'dev',
      to: 'staging',
      alreadyCurrent: [],
      changes: [
        { service: 'api', image: 'ghcr.io/opsforge/api', previousTag: SHA.a, tag: SHA.b },
        { service: 'worker', image: 'ghcr.io/opsforge/worker', previousTag: SHA.a, tag: SHA.c },
      ],
    });
    expect(repo.changedFiles()).toEqual([repo.overlayPath('staging')]);
    expect(repo.changedLines(repo.overlayPath('staging'))).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`, `    newTag: ${SHA.a}`],
      added: [`    newTag: ${SHA.b} # set by CI`, `    newTag: ${SHA.c}`],
    });
  });

  it('is idempotent: a second promotion finds nothing to do and writes nothing', () => {
    promote({ root: repo.root, to: 'staging' });
    repo.commit('promote dev to staging');

    const again = promote({ root: repo.root, to: 'staging' });

    expect(again.changes).toEqual([]);
    expect(again.alreadyCurrent).toEqual(['api', 'worker']);
    expect(repo.changedFiles()).toEqual([]);
  });

  it('refuses to skip staging on the way to prod, and writes nothing', () => {
    const result = runTool('promote', ['--from', 'dev', '--to', 'prod'], repo.root);

    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'refusing to promote dev -> prod: it would skip staging; promote dev -> staging first',
    );
    expect(repo.changedFiles()).toEqual([]);
  });

  it("takes prod's tags from staging, never from dev", () => {
    const plan = promote({ root: repo.root, to: 'prod' });

    expect(plan.from).toBe('staging');
    expect(plan.changes).toEqual([]);
    expect(repo.changedFiles()).toEqual([]);
  });

  it('refuses a tag that the source environment does not run', () => {
    const result = runTool('promote', ['--to', 'staging', '--service', 'api', '--tag', SHA.d], repo.root);

    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `refusing to promote api ${SHA.d} to staging: dev runs ${SHA.b}, not ${SHA.d}`,
    );
    expect(repo.changedFiles()).toEqual([]);
  });

  it('promotes one service at the reviewed tag and leaves the other alone', () => {
    const plan = promote({ root: repo.root, to: 'staging', service: 'api', tag: SHA.b });

    expect(plan.changes.map((change) => change.service)).toEqual(['api']);
    expect(repo.changedLines(repo.overlayPath('staging'))).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`],
      added: [`    newTag: ${SHA.b} # set by CI`],
    });
  });

  it('refuses a source overlay whose tag is not an image release.yml built', () => {
    repo.write(repo.overlayPath('dev'), repo.read(repo.overlayPath('dev')).replace(SHA.b, 'latest'));

    expect(() => promote({ root: repo.root, to: 'staging' })).toThrow(
      'refusing to promote api: dev runs "latest", which is not a full git commit sha',
    );
    expect(repo.changedFiles()).toEqual([repo.overlayPath('dev')]);
  });

  // In-process: the same validation the command runs; the exit statuses are checked once each above and below.
  it.each([
    [{ from: 'staging', to: 'dev' }, UsageError, 'nothing is promoted into dev'],
    [
      { from: 'prod', to: 'staging' },
      PromotionRefused,
      'refusing to promote prod -> staging: promotion only moves forward',
    ],
    [{ to: 'qa' }, UsageError, 'unknown environment "qa" for --to'],
    [{ to: 'staging', service: 'web' }, UsageError, 'unknown service "web"'],
    [{ to: 'staging', tag: SHA.b }, UsageError, '--tag needs --service'],
    [{ to: 'staging', service: 'api', tag: 'v1.2.3' }, UsageError, 'malformed image tag "v1.2.3"'],
  ])('refuses %j (%p) and writes nothing', (request, kind, message) => {
    let thrown: unknown;
    try {
      promote({ root: repo.root, ...request });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(kind);
    expect((thrown as Error).message).toContain(message);
    expect(repo.changedFiles()).toEqual([]);
  });

  it('as a command, a usage mistake exits 2', () => {
    const result = runTool('promote', ['--to', 'qa'], repo.root);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown environment "qa" for --to');
  });

  it('--dry-run --markdown prints the pull request body without writing', () => {
    const result = runTool('promote', ['--to', 'staging', '--dry-run', '--markdown'], repo.root);

    expect(result.status).toBe(0);
    expect(result.stdout).toContain('| `ghcr.io/opsforge/api` | `' + SHA.a + '` | `' + SHA.b + '` |');
    expect(result.stdout).toContain('Only `gitops/envs/staging/kustomization.yaml` changes.');
    expect(repo.changedFiles()).toEqual([]);
  });

  it('says there is nothing to promote in the pull request body when the envs already match', () => {
    expect(planAsMarkdown(promote({ root: repo.root, to: 'prod' }))).toBe(
      '`prod` already runs what `staging` runs; nothing to promote.\n',
    );
  });

  it('prints usage for --help', () => {
    const result = runTool('promote', ['--help'], repo.root);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run promote -- --to <staging\|prod>/);
  });
});

describe('promote --verify: every staging and prod tag ran in the environment before it', () => {
  let repo: GitopsRepo;
  const setTag = (env: string, from: string, to: string) =>
    repo.write(repo.overlayPath(env), repo.read(repo.overlayPath(env)).replace(from, to));
  beforeEach(() => {
    repo = new GitopsRepo();
  });
  afterEach(() => repo.remove());

  it('accepts a tag the previous environment ran earlier, even after it moved on', () => {
    setTag('dev', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.b} # set by CI`);
    repo.commit('dev runs b');
    setTag('dev', `newTag: ${SHA.b} # set by CI`, `newTag: ${SHA.c} # set by CI`);
    repo.commit('dev runs c');
    setTag('staging', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.b} # set by CI`);

    const result = runTool('promote', ['--verify'], repo.root);

    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`ok: staging api ${SHA.b.slice(0, 12)} ran in dev`);
  });

  it('refuses a prod tag that only dev ran (staging skipped by a hand edit)', () => {
    setTag('dev', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.b} # set by CI`);
    repo.commit('dev runs b');
    setTag('prod', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.b} # set by CI`);

    const result = runTool('promote', ['--verify'], repo.root);

    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`refused: prod api ${SHA.b} never ran in staging`);
  });

  it('counts only the history given by --ran-on: a pull request cannot pass by setting dev itself', () => {
    const base = repo.git('rev-parse', 'HEAD').trim();
    setTag('dev', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.d} # set by CI`);
    repo.commit('the pull request sets dev ...');
    setTag('staging', `newTag: ${SHA.a} # set by CI`, `newTag: ${SHA.d} # set by CI`);
    repo.commit('... and staging in one go');

    expect(runTool('promote', ['--verify'], repo.root).status).toBe(0);
    const againstBase = runTool('promote', ['--verify', '--ran-on', base], repo.root);
    expect(againstBase.status).toBe(1);
    expect(againstBase.stdout).toContain(
      `refused: staging api ${SHA.d} never ran in dev (history of ${base})`,
    );
  });

  it.each([
    [['--verify', '--to', 'staging'], '--verify changes nothing and takes no --to'],
    [['--verify', '--ran-on', 'no-such-revision'], '--ran-on "no-such-revision" is not a revision'],
    [['--to', 'staging', '--ran-on', 'HEAD'], '--ran-on belongs to --verify'],
  ])('refuses %j with exit status 2', (args, message) => {
    const result = runTool('promote', args, repo.root);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
