import { bump } from '../bump/main';
import { formatMarkdown, formatText, renderDiff, truncate } from '../render-diff/main';
import { GitopsRepo, runTool, SHA } from './support/gitops-repo';

// Every case renders with the real `kubectl kustomize` at two real commits.
describe('render-diff: what each environment would change, rendered by kustomize at two revisions', () => {
  let repo: GitopsRepo;
  let base: string;
  beforeEach(() => {
    repo = new GitopsRepo();
    base = repo.git('rev-parse', 'HEAD').trim();
  });
  afterEach(() => repo.remove());

  it("shows a tag bump in one env as a change of that env's Deployment alone", () => {
    bump(repo.root, 'dev', 'api', SHA.b);
    const head = repo.commit('bump dev api');

    const result = renderDiff(repo.root, base, head);

    const byEnv = Object.fromEntries(result.environments.map((diff) => [diff.env, diff.changes]));
    expect(byEnv.staging).toEqual([]);
    expect(byEnv.prod).toEqual([]);
    expect(byEnv.dev.map((change) => [change.key, change.change])).toEqual([
      ['Deployment dev/api', 'changed'],
    ]);
    const lines = byEnv.dev[0].diff.split('\n');
    expect(lines).toContain(`-        - image: ghcr.io/opsforge/api:${SHA.a}`);
    expect(lines).toContain(`+        - image: ghcr.io/opsforge/api:${SHA.b}`);
    expect(lines.filter((line) => /^[+-]/.test(line))).toHaveLength(2);
    expect(result.broken).toBe(false);
  });

  it("shows a change in the base in every environment, in that environment's namespace", () => {
    repo.write(
      'gitops/base/worker.yaml',
      repo.read('gitops/base/worker.yaml').replace('replicas: 1', 'replicas: 2'),
    );
    const head = repo.commit('two workers');

    const result = renderDiff(repo.root, base, head);

    for (const diff of result.environments) {
      expect(diff.changes.map((change) => change.key)).toEqual([`Deployment ${diff.env}/worker`]);
      expect(diff.changes[0].diff).toMatch(/^- {2}replicas: 1$/m);
      expect(diff.changes[0].diff).toMatch(/^\+ {2}replicas: 2$/m);
    }
    const text = formatText(result);
    expect(text).toContain('== dev: 1 changed, 0 added, 0 removed ==');
    expect(text).toContain('~ Deployment prod/worker (changed)');
  });

  it('lists added and removed objects whole', () => {
    repo.write(
      'gitops/base/kustomization.yaml',
      repo.read('gitops/base/kustomization.yaml').replace('  - worker.yaml\n', '  - config.yaml\n'),
    );
    repo.write(
      'gitops/base/config.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api-config\ndata:\n  LOG_LEVEL: info\n',
    );
    const head = repo.commit('swap worker for a config map');

    const [dev] = renderDiff(repo.root, base, head, ['dev']).environments;

    expect(dev.changes.map((change) => [change.key, change.change])).toEqual([
      ['ConfigMap dev/api-config', 'added'],
      ['Deployment dev/worker', 'removed'],
    ]);
    expect(dev.changes[0].diff).toContain('+  LOG_LEVEL: info');
    expect(dev.changes[1].diff).toContain('-kind: Deployment');
  });

  it('shows that a Secret changed without printing either value', () => {
    repo.write(
      'gitops/base/redis-auth.yaml',
      repo.read('gitops/base/redis-auth.yaml').replace('first-password-value', 'second-password-value'),
    );
    const head = repo.commit('rotate');

    const result = renderDiff(repo.root, base, head);
    const output = formatText(result) + formatMarkdown(result);

    expect(result.environments[0].changes.map((change) => change.key)).toEqual(['Secret dev/redis-auth']);
    expect(result.environments[0].changes[0].diff).toMatch(
      /^- {2}password: <redacted sha256:[0-9a-f]{12}>$/m,
    );
    expect(output).not.toContain('first-password-value');
    expect(output).not.toContain('second-password-value');
  });

  it("fails (exit 1) and shows kustomize's error when the head revision breaks an overlay", () => {
    repo.write(
      repo.overlayPath('prod'),
      repo.read(repo.overlayPath('prod')).replace('../../base', '../../bsae'),
    );
    const head = repo.commit('typo');

    const result = runTool('render-diff', ['--base', base, '--head', head], repo.root);

    expect(result.status).toBe(1);
    expect(result.stdout).toContain('== prod: FAILS TO RENDER at head ==');
    expect(result.stdout).toContain('bsae');
    expect(result.stdout).toContain('== dev: no change ==');
  });

  it('reads revisions from git, not the working tree, and leaves the working tree alone', () => {
    const head = repo.git('rev-parse', 'HEAD').trim();
    repo.write(repo.overlayPath('dev'), 'this is not: [valid');

    const result = renderDiff(repo.root, base, head);

    expect(result.environments.every((diff) => diff.changes.length === 0 && diff.head === 'rendered')).toBe(
      true,
    );
    expect(repo.read(repo.overlayPath('dev'))).toBe('this is not: [valid');
  });

  it('renders the pull request comment in Markdown, and cuts it at a line with a note when asked', () => {
    bump(repo.root, 'staging', 'worker', SHA.c);
    const head = repo.commit('bump staging worker');

    const result = runTool(
      'render-diff',
      ['--base', base, '--head', head, '--format', 'markdown'],
      repo.root,
    );

    expect(result.status).toBe(0);
    expect(result.stdout).toContain('### staging: 1 changed, 0 added, 0 removed');
    expect(result.stdout).toContain('### dev: no change');
    expect(result.stdout).toContain('```diff\n@@');
    // 450 characters end inside the diff's code fence: the cut must close it before the note.
    const cut = truncate(result.stdout, 450);
    expect(cut.length).toBeLessThanOrEqual(450);
    expect(cut).toContain('```diff');
    expect(cut).toContain('output cut here');
    expect((cut.match(/^```/gm) ?? []).length % 2).toBe(0);
  });

  it.each([
    [['--head', 'HEAD'], '--base is required'],
    [['--base', 'no-such-branch'], '--base "no-such-branch" is not a commit'],
    [['--base', 'HEAD', '--format', 'html'], '--format must be text or markdown'],
    [['--base', 'HEAD', '--env', 'qa'], 'unknown environment "qa"'],
  ])('refuses %j with exit status 2', (args, message) => {
    const result = runTool('render-diff', args, repo.root);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('prints usage for --help', () => {
    const result = runTool('render-diff', ['--help'], repo.root);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run render-diff -- --base <git-rev>/);
  });
});
