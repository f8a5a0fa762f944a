import { kustomizeYaml } from '../lib/kustomize';
import { join } from 'node:path';
import { bump } from '../bump/main';
import { UsageError } from '../lib/cli';
import {
  DIGEST,
  freshRepoForEachTest,
  GitopsRepo,
  IMAGES_PATH,
  refusalOf,
  runTool,
  SHA,
} from './support/gitops-repo';

describe('bump: write one image, by tag and digest, into gitops/images', () => {
  let repo: GitopsRepo;
  freshRepoForEachTest((fresh) => (repo = fresh));

  it('changes only the newTag and digest lines of that service, keeping their comment', () => {
    const result = bump(repo.root, 'api', SHA.b, DIGEST.b);

    expect(result).toMatchObject({ changed: true, previousTag: SHA.a });
    expect(repo.changedFiles()).toEqual([IMAGES_PATH]);
    expect(repo.changedLines(IMAGES_PATH)).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`, `    digest: ${DIGEST.a}`],
      added: [`    newTag: ${SHA.b} # set by CI`, `    digest: ${DIGEST.b}`],
    });
  });

  it('renders name:tag@digest in every environment overlay that runs this commit', () => {
    bump(repo.root, 'worker', SHA.c, DIGEST.c);
    const rendered = kustomizeYaml(join(repo.root, 'gitops', 'envs', 'dev')).yaml;
    expect(rendered).toContain(`image: ghcr.io/opsforge/worker:${SHA.c}@${DIGEST.c}\n`);
    expect(rendered).toContain(`image: ghcr.io/opsforge/api:${SHA.a}@${DIGEST.a}\n`);
  });

  it('keeps every comment and the order of keys and images', () => {
    bump(repo.root, 'worker', SHA.c, DIGEST.c);
    const text = repo.read(IMAGES_PATH);

    expect(text.split('\n').filter((line) => line.trimStart().startsWith('#'))).toEqual([
      '# The images every environment runs at this commit, written by the delivery tools.',
      '  # api: the HTTP service',
      '  # worker: the queue consumer',
    ]);
    expect(text.indexOf('ghcr.io/opsforge/api')).toBeLessThan(text.indexOf('ghcr.io/opsforge/worker'));
  });

  it('is a no-op when tag and digest are already set: same bytes, nothing for git to commit', () => {
    bump(repo.root, 'api', SHA.b, DIGEST.b);
    repo.commit('bump');
    const before = repo.read(IMAGES_PATH);

    const again = bump(repo.root, 'api', SHA.b, DIGEST.b);

    expect(again.changed).toBe(false);
    expect(again.message).toContain('already set');
    expect(repo.read(IMAGES_PATH)).toBe(before);
    expect(repo.changedFiles()).toEqual([]);
  });

  it('writes a new digest for the same tag (the same commit rebuilt): a visible git change, never a silent one', () => {
    const result = bump(repo.root, 'api', SHA.a, DIGEST.d);

    expect(result.changed).toBe(true);
    expect(repo.changedLines(IMAGES_PATH)).toEqual({
      removed: [`    digest: ${DIGEST.a}`],
      added: [`    digest: ${DIGEST.d}`],
    });
  });

  it('adds the image entry when the component does not list that image yet', () => {
    const header = '# images\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n';
    repo.write(IMAGES_PATH, header);
    bump(repo.root, 'worker', SHA.d, DIGEST.d);

    expect(repo.read(IMAGES_PATH)).toBe(
      `${header}images:\n  - name: ghcr.io/opsforge/worker\n    newTag: ${SHA.d}\n    digest: ${DIGEST.d}\n`,
    );
  });

  // In-process: the same validation the command runs (one spawned process per case would cost seconds).
  it.each([
    ['web', SHA.b, DIGEST.b, 'unknown service "web"'],
    ['api', 'latest', DIGEST.b, 'malformed image tag "latest"'],
    ['api', 'abc1234', DIGEST.b, 'malformed image tag "abc1234"'],
    ['api', SHA.b.toUpperCase(), DIGEST.b, 'malformed image tag'],
    ['api', undefined, DIGEST.b, '--tag is required'],
    ['api', SHA.b, undefined, '--digest is required'],
    ['api', SHA.b, 'sha256:abc', 'malformed image digest "sha256:abc"'],
    ['api', SHA.b, `sha512:${'a'.repeat(64)}`, 'malformed image digest'],
  ])(
    'refuses service %s, tag %s, digest %s with a clear message and no file changed',
    (service, tag, digest, message) => {
      const refusal = refusalOf(() => bump(repo.root, service, tag, digest));
      expect(refusal).toBeInstanceOf(UsageError);
      expect(refusal.message).toContain(message);
      expect(repo.changedFiles()).toEqual([]);
    },
  );

  it.each([
    [['--service', 'api', '--tag', SHA.b], '--digest is required'],
    [['--service', 'api', '--tag', SHA.b, '--digest', DIGEST.b, '--env', 'dev'], "Unknown option '--env'"],
  ])('as a command, refuses %j with exit status 2 and nothing on stdout', (args, message) => {
    const result = runTool('bump', args, repo.root);

    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
    expect(repo.changedFiles()).toEqual([]);
  });

  it('works as a command: prints the change, then reports the no-op on a second run', () => {
    const args = ['--service', 'worker', '--tag', SHA.c, '--digest', DIGEST.c];
    const first = runTool('bump', args, repo.root);
    expect(first).toMatchObject({ status: 0, stderr: '' });
    expect(first.stdout).toBe(
      `ghcr.io/opsforge/worker:${SHA.a}@${DIGEST.a} -> ghcr.io/opsforge/worker:${SHA.c}@${DIGEST.c}\n`,
    );

    const second = runTool('bump', args, repo.root);
    expect(second.status).toBe(0);
    expect(second.stdout).toBe(
      `ghcr.io/opsforge/worker:${SHA.c}@${DIGEST.c} already set; nothing to change\n`,
    );
  });

  it('fails with exit status 1 and the path when the images component is missing', () => {
    repo.git('rm', '-q', IMAGES_PATH);
    const result = runTool('bump', ['--service', 'api', '--tag', SHA.b, '--digest', DIGEST.b], repo.root);

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/images: .*gitops\/images\/kustomization\.yaml does not exist/);
  });

  it('prints usage for --help', () => {
    const result = runTool('bump', ['--help'], repo.root);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      /^Usage: npm run bump -- --service <api\|worker> --tag <git-sha> --digest sha256:<hex>/,
    );
  });
});

describe('bump --only-forward: a re-run of an old release does not take dev back in time', () => {
  let repo: GitopsRepo;
  freshRepoForEachTest((fresh) => (repo = fresh));

  it('keeps a later commit, and still moves forward to one', () => {
    repo.commit('second');
    const [older, later] = [repo.git('rev-parse', 'HEAD~1').trim(), repo.git('rev-parse', 'HEAD').trim()];
    expect(bump(repo.root, 'api', later, DIGEST.c, { onlyForward: true }).changed).toBe(true);
    repo.commit('dev runs the later one');

    const rerun = runTool(
      'bump',
      ['--service', 'api', '--tag', older, '--digest', DIGEST.b, '--only-forward'],
      repo.root,
    );

    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toBe(
      `ghcr.io/opsforge/api already at ${later}, a later commit than ${older}; nothing to change\n`,
    );
    expect(repo.changedFiles()).toEqual([]);
    // Without the flag the same request is an ordinary bump.
    expect(bump(repo.root, 'api', older, DIGEST.b).changed).toBe(true);
  });

  it('sets the image when the current tag is not a commit of this repository', () => {
    const head = repo.git('rev-parse', 'HEAD').trim();
    expect(bump(repo.root, 'api', head, DIGEST.b, { onlyForward: true })).toMatchObject({
      changed: true,
      previousTag: SHA.a,
    });
  });
});

describe('bump: a sha that looks like a number', () => {
  const DIGITS_ONLY = '1234567890123456789012345678901234567890';
  const FLOAT_LOOKING = '12345678901234567890123456789012345e6789';
  let repo: GitopsRepo;
  freshRepoForEachTest(
    (fresh) => (repo = fresh),
    // Quoted, as bump writes it: kustomize itself refuses a plain numeric newTag.
    () => new GitopsRepo({ api: [SHA.a, DIGEST.a], worker: [`"${DIGITS_ONLY}"`, DIGEST.a] }),
  );

  it('is written quoted, so kustomize renders it as the image tag', () => {
    bump(repo.root, 'api', FLOAT_LOOKING, DIGEST.b);

    expect(repo.changedLines(IMAGES_PATH).added).toEqual([
      `    newTag: "${FLOAT_LOOKING}" # set by CI`,
      `    digest: ${DIGEST.b}`,
    ]);
    const rendered = kustomizeYaml(join(repo.root, 'gitops', 'envs', 'dev')).yaml;
    expect(rendered).toContain(`image: ghcr.io/opsforge/api:${FLOAT_LOOKING}@${DIGEST.b}\n`);
  });

  it('leaves every other value as written: no number is reformatted when a tag changes', () => {
    repo.edit(IMAGES_PATH, (text) => `${text}replicas:\n  - name: api\n    count: 02\n`);
    repo.commit('a zero-padded count');

    expect(bump(repo.root, 'api', SHA.b, DIGEST.a).changed).toBe(true);

    expect(repo.changedLines(IMAGES_PATH)).toEqual({
      removed: [`    newTag: ${SHA.a} # set by CI`],
      added: [`    newTag: ${SHA.b} # set by CI`],
    });
    expect(bump(repo.root, 'worker', DIGITS_ONLY, DIGEST.a).changed).toBe(false);
  });
});
