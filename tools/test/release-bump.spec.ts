import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DIGEST, GitopsRepo, IMAGES_PATH, REPO_ROOT } from './support/gitops-repo';

// The dev-bump step of release.yml, run as GitHub runs it (bash -eo pipefail) in a clone of a real
// "origin" repository, with the repository's own bump tool: the commit of both digests, the push, the
// rebase and retry when main moved, the reset when someone changed the same lines, and the refusal to go
// back in time. (Without DEV_DEPLOY_KEY or PUSH_TOKEN the step pushes to origin as the clone is set up.)
const release = parse(readFileSync(join(REPO_ROOT, '.github', 'workflows', 'release.yml'), 'utf8')) as {
  jobs: Record<string, { steps: { name?: string; run?: string }[] }>;
};
const script = release.jobs['bump-dev'].steps.find((step) =>
  step.name?.startsWith('Commit the new digests'),
)?.run;
const OVERLAY = IMAGES_PATH;

describe('release.yml: committing the new tag into dev', () => {
  let scratch: string;
  let origin: string;
  let work: string;

  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8' }).trim();
  const devImages = (cwd: string) =>
    [...git(cwd, 'show', `HEAD:${OVERLAY}`).matchAll(/newTag: ([0-9a-f]{40}).*\n\s*digest: (\S+)/g)].map(
      (match) => `${match[1]}@${match[2]}`,
    );

  function clone(name: string): string {
    const dir = join(scratch, name);
    execFileSync('git', ['clone', '--quiet', origin, dir]);
    git(dir, 'config', 'user.email', 'someone@opsforge.invalid');
    git(dir, 'config', 'user.name', 'someone');
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    return dir;
  }

  /** Another push to origin's main, made while the release job is running. */
  function pushFromElsewhere(change: (dir: string) => void, message: string): string {
    const other = clone(`other-${Math.random().toString(16).slice(2)}`);
    change(other);
    git(other, 'commit', '--quiet', '-am', message);
    git(other, 'push', '--quiet', 'origin', 'HEAD:main');
    return git(other, 'rev-parse', 'HEAD');
  }

  function runStep(tag: string, pushToken = '') {
    return spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script!], {
      cwd: work,
      env: {
        ...process.env,
        TAG: tag,
        API_DIGEST: DIGEST.b,
        WORKER_DIGEST: DIGEST.c,
        GITHUB_RUN_ID: '4242',
        DEV_DEPLOY_KEY: '',
        PUSH_TOKEN: pushToken,
      },
      encoding: 'utf8',
    });
  }

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'release-bump-'));
    const fixture = new GitopsRepo();
    cpSync(join(REPO_ROOT, 'tools', 'lib'), join(fixture.root, 'tools', 'lib'), { recursive: true });
    cpSync(join(REPO_ROOT, 'tools', 'bump'), join(fixture.root, 'tools', 'bump'), { recursive: true });
    writeFileSync(
      join(fixture.root, 'package.json'),
      JSON.stringify({ private: true, scripts: { bump: 'tsx tools/bump/main.ts' } }),
    );
    writeFileSync(join(fixture.root, '.gitignore'), 'node_modules\n');
    writeFileSync(join(fixture.root, 'README.md'), 'fixture\n');
    fixture.commit('tools');
    origin = join(scratch, 'origin.git');
    execFileSync('git', ['clone', '--quiet', '--bare', fixture.root, origin]);
    fixture.remove();
    work = clone('work');
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('exists in release.yml', () => {
    expect(script).toContain('npm run --silent bump');
  });

  it('pushes one commit to main that changes only the images, by tag and digest', () => {
    const tag = git(work, 'rev-parse', 'HEAD');
    const result = runStep(tag);

    expect(result.status).toBe(0);
    expect(git(origin, 'log', '-1', '--format=%s', 'main')).toBe(
      `dev: deploy ${tag.slice(0, 12)} (api, worker)`,
    );
    expect(git(origin, 'diff', '--name-only', 'main~1', 'main')).toBe(OVERLAY);
    expect(devImages(origin)).toEqual([`${tag}@${DIGEST.b}`, `${tag}@${DIGEST.c}`]);
  });

  it('pushes with the token for its own git commands only: nothing of it lands in .git/config', () => {
    const tag = git(work, 'rev-parse', 'HEAD');
    const token = 'ghs_not-a-real-token-0123456789';

    const result = runStep(tag, token);

    expect(result.status).toBe(0);
    expect(devImages(origin)).toEqual([`${tag}@${DIGEST.b}`, `${tag}@${DIGEST.c}`]);
    const config = readFileSync(join(work, '.git', 'config'), 'utf8');
    expect(config).not.toContain(token);
    expect(config).not.toContain(Buffer.from(`x-access-token:${token}`).toString('base64'));
    expect(config).not.toMatch(/extraheader/i);
  });

  it('rebases and pushes again when main moved meanwhile', () => {
    const tag = git(work, 'rev-parse', 'HEAD');
    const concurrent = pushFromElsewhere(
      (dir) => writeFileSync(join(dir, 'README.md'), 'changed elsewhere\n'),
      'docs meanwhile',
    );

    const result = runStep(tag);

    expect(result.status).toBe(0);
    expect(result.stdout).toContain('push rejected (attempt 1)');
    expect(git(origin, 'rev-parse', 'main~1')).toBe(concurrent);
    expect(devImages(origin)).toEqual([`${tag}@${DIGEST.b}`, `${tag}@${DIGEST.c}`]);
  });

  it('starts again from the new main when someone changed the same lines', () => {
    const tag = git(work, 'rev-parse', 'HEAD');
    pushFromElsewhere((dir) => {
      const path = join(dir, OVERLAY);
      writeFileSync(path, readFileSync(path, 'utf8').replace(/newTag: a{40}/g, `newTag: ${'b'.repeat(40)}`));
    }, 'someone set dev by hand');

    const result = runStep(tag);

    expect(result.status).toBe(0);
    expect(git(origin, 'log', '-1', '--format=%s', 'main')).toBe(
      `dev: deploy ${tag.slice(0, 12)} (api, worker)`,
    );
    expect(devImages(origin)).toEqual([`${tag}@${DIGEST.b}`, `${tag}@${DIGEST.c}`]);
  });

  it('leaves dev alone when it already runs a later build (a re-run of an old release)', () => {
    const older = git(work, 'rev-parse', 'HEAD~1');
    const later = git(work, 'rev-parse', 'HEAD');
    expect(runStep(later).status).toBe(0);
    git(work, 'fetch', '--quiet', 'origin');
    git(work, 'reset', '--quiet', '--hard', 'origin/main');
    const before = git(origin, 'rev-parse', 'main');

    const rerun = runStep(older);

    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toContain(`a later commit than ${older}`);
    expect(git(origin, 'rev-parse', 'main')).toBe(before);
  });

  it('fails, and pushes nothing, when the bump tool refuses the tag', () => {
    const before = git(origin, 'rev-parse', 'main');
    const result = runStep('not-a-sha');

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('malformed image tag "not-a-sha"');
    expect(git(origin, 'rev-parse', 'main')).toBe(before);
  });
});
