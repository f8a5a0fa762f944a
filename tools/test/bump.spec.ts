import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { bump } from '../bump/main';
import { UsageError } from '../lib/cli';
import { GitopsRepo, runTool, SHA } from './support/gitops-repo';

describe('bump: set one image tag in one environment overlay', () => {
  let repo: GitopsRepo;
  beforeEach(() => {
    repo = new GitopsRepo();
  });
  afterEach(() => repo.remove());

  it('changes only the newTag line of that service in that environment, keeping its comment', () => {
    const result = bump(repo.root, 'dev', 'api', SHA.b);

    expect(result).toMatchObject({ changed: true, previousTag: SHA.a });
    expect(repo.changedFiles()).toEqual([repo.overlayPath('dev')]);
    expect(repo.changedLines(repo.overlayPath('dev'))).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`],
      added: [`    newTag: ${SHA.b} # set by CI`],
    });
  });

  it('keeps every comment and the order of keys and images', () => {
    bump(repo.root, 'staging', 'worker', SHA.c);
    const text = repo.read(repo.overlayPath('staging'));

    expect(text.split('\n').filter((line) => line.trimStart().startsWith('#'))).toEqual([
      '# staging: the image tags below are written by the delivery tools; review them in the pull request.',
      '  # api: the HTTP service',
      '  # worker: the queue consumer',
    ]);
    expect(text.indexOf('ghcr.io/opsforge/api')).toBeLessThan(text.indexOf('ghcr.io/opsforge/worker'));
    expect(text.indexOf('resources:')).toBeLessThan(text.indexOf('images:'));
    expect(text.indexOf('images:')).toBeLessThan(text.indexOf('labels:'));
  });

  it('is a no-op when the tag is already set: same bytes, nothing for git to commit', () => {
    bump(repo.root, 'prod', 'api', SHA.b);
    repo.commit('bump');
    const before = repo.read(repo.overlayPath('prod'));

    const again = bump(repo.root, 'prod', 'api', SHA.b);

    expect(again.changed).toBe(false);
    expect(again.message).toContain('already at');
    expect(repo.read(repo.overlayPath('prod'))).toBe(before);
    expect(repo.changedFiles()).toEqual([]);
  });

  it('adds the image entry when the overlay does not list that image yet', () => {
    repo.write(
      repo.overlayPath('dev'),
      '# dev overlay\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n',
    );
    bump(repo.root, 'dev', 'worker', SHA.d);

    expect(repo.read(repo.overlayPath('dev'))).toBe(
      '# dev overlay\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n' +
        `images:\n  - name: ghcr.io/opsforge/worker\n    newTag: ${SHA.d}\n`,
    );
  });

  // In-process: the same validation the command runs (one spawned process per case would cost seconds).
  it.each([
    ['qa', 'api', SHA.b, 'unknown environment "qa"'],
    ['dev', 'web', SHA.b, 'unknown service "web"'],
    ['dev', 'api', 'latest', 'malformed image tag "latest"'],
    ['dev', 'api', 'abc1234', 'malformed image tag "abc1234"'],
    ['dev', 'api', SHA.b.toUpperCase(), 'malformed image tag'],
    ['dev', 'api', undefined, '--tag is required'],
  ])(
    'refuses env %s, service %s, tag %s with a clear message and no file changed',
    (env, service, tag, message) => {
      let thrown: unknown;
      try {
        bump(repo.root, env, service, tag);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(UsageError);
      expect((thrown as Error).message).toContain(message);
      expect(repo.changedFiles()).toEqual([]);
    },
  );

  it.each([
    [['--env', 'qa', '--service', 'api', '--tag', SHA.b], 'unknown environment "qa"'],
    [['--env', 'dev', '--service', 'api', '--tag', SHA.b, '--force'], "Unknown option '--force'"],
  ])('as a command, refuses %j with exit status 2 and nothing on stdout', (args, message) => {
    const result = runTool('bump', args, repo.root);

    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
    expect(repo.changedFiles()).toEqual([]);
  });

  it('works as a command: prints the change, then reports the no-op on a second run', () => {
    const first = runTool('bump', ['--env', 'dev', '--service', 'worker', '--tag', SHA.c], repo.root);
    expect(first).toMatchObject({ status: 0, stderr: '' });
    expect(first.stdout).toBe(`dev: ghcr.io/opsforge/worker ${SHA.a} -> ${SHA.c}\n`);

    const second = runTool('bump', ['--env', 'dev', '--service', 'worker', '--tag', SHA.c], repo.root);
    expect(second.status).toBe(0);
    expect(second.stdout).toBe(`dev: ghcr.io/opsforge/worker already at ${SHA.c}; nothing to change\n`);
  });

  it('fails with exit status 1 and the path when the overlay is missing', () => {
    repo.git('rm', '-q', repo.overlayPath('staging'));
    const result = runTool('bump', ['--env', 'staging', '--service', 'api', '--tag', SHA.b], repo.root);

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/staging: .*gitops\/envs\/staging\/kustomization\.yaml does not exist/);
  });

  it('prints usage for --help', () => {
    const result = runTool('bump', ['--help'], repo.root);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      /^Usage: npm run bump -- --env <dev\|staging\|prod> --service <api\|worker> --tag <git-sha>/,
    );
  });
});

describe('bump --only-forward: a re-run of an old release does not take an environment back in time', () => {
  let repo: GitopsRepo;
  beforeEach(() => {
    repo = new GitopsRepo();
  });
  afterEach(() => repo.remove());

  it('keeps a later commit, and still moves forward to one', () => {
    repo.commit('second');
    const [older, later] = [repo.git('rev-parse', 'HEAD~1').trim(), repo.git('rev-parse', 'HEAD').trim()];
    expect(bump(repo.root, 'dev', 'api', later, { onlyForward: true }).changed).toBe(true);
    repo.commit('dev runs the later one');

    const rerun = runTool(
      'bump',
      ['--env', 'dev', '--service', 'api', '--tag', older, '--only-forward'],
      repo.root,
    );

    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toBe(
      `dev: ghcr.io/opsforge/api already at ${later}, a later commit than ${older}; nothing to change\n`,
    );
    expect(repo.changedFiles()).toEqual([]);
    // Without the flag the same request is an ordinary bump.
    expect(bump(repo.root, 'dev', 'api', older).changed).toBe(true);
  });

  it('sets the tag when the current one is not a commit of this repository', () => {
    const head = repo.git('rev-parse', 'HEAD').trim();
    expect(bump(repo.root, 'dev', 'api', head, { onlyForward: true })).toMatchObject({
      changed: true,
      previousTag: SHA.a,
    });
  });
});

describe('bump: a sha that looks like a number', () => {
  const DIGITS_ONLY = '1234567890123456789012345678901234567890';
  const FLOAT_LOOKING = '12345678901234567890123456789012345e6789';
  let repo: GitopsRepo;
  beforeEach(() => {
    // Quoted, as bump writes it: kustomize itself refuses a plain numeric newTag.
    repo = new GitopsRepo({
      dev: [SHA.a, `"${DIGITS_ONLY}"`],
      staging: [SHA.a, SHA.a],
      prod: [SHA.a, SHA.a],
    });
  });
  afterEach(() => repo.remove());

  it('is written quoted, so kustomize renders it as the image tag', () => {
    bump(repo.root, 'dev', 'api', FLOAT_LOOKING);

    expect(repo.changedLines(repo.overlayPath('dev')).added).toEqual([
      `    newTag: "${FLOAT_LOOKING}" # set by CI`,
    ]);
    const rendered = execFileSync('kubectl', ['kustomize', join(repo.root, 'gitops', 'envs', 'dev')], {
      encoding: 'utf8',
    });
    expect(rendered).toContain(`image: ghcr.io/opsforge/api:${FLOAT_LOOKING}\n`);
  });

  it('leaves every other value as written: no number is reformatted when a tag changes', () => {
    repo.write(
      repo.overlayPath('dev'),
      `${repo.read(repo.overlayPath('dev'))}replicas:\n  - name: api\n    count: 02\n`,
    );
    repo.commit('a zero-padded count');

    expect(bump(repo.root, 'dev', 'api', SHA.b).changed).toBe(true);

    expect(repo.changedLines(repo.overlayPath('dev'))).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`],
      added: [`    newTag: ${SHA.b} # set by CI`],
    });
    expect(bump(repo.root, 'dev', 'worker', DIGITS_ONLY).changed).toBe(false);
  });
});
