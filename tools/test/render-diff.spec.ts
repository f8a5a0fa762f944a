import { bump } from '../bump/main';
import { formatMarkdown, formatText, renderDiff, truncate } from '../render-diff/main';
import { DIGEST, freshRepoForEachTest, GitopsRepo, revisionFile, runTool, SHA } from './support/gitops-repo';

// Every case renders with the real `kubectl kustomize` at two real commits.
describe('render-diff: what each environment would change, rendered by kustomize at two revisions', () => {
  let repo: GitopsRepo;
  let base: string;
  freshRepoForEachTest((fresh) => {
    repo = fresh;
    base = repo.git('rev-parse', 'HEAD').trim();
  });

  it('shows a new image in dev alone: staging and prod render from their pinned commits', () => {
    bump(repo.root, 'api', SHA.b, DIGEST.b);
    const head = repo.commit('dev: deploy api b');

    const result = renderDiff(repo.root, base, head);

    const byEnv = Object.fromEntries(result.environments.map((diff) => [diff.env, diff.changes]));
    expect(byEnv.staging).toEqual([]);
    expect(byEnv.prod).toEqual([]);
    expect(byEnv.dev.map((change) => [change.key, change.change])).toEqual([
      ['Deployment dev/api', 'changed'],
    ]);
    const lines = byEnv.dev[0].diff.split('\n');
    expect(lines).toContain(`-        - image: ghcr.io/opsforge/api:${SHA.a}@${DIGEST.a}`);
    expect(lines).toContain(`+        - image: ghcr.io/opsforge/api:${SHA.b}@${DIGEST.b}`);
    expect(lines.filter((line) => /^[+-]/.test(line))).toHaveLength(2);
    expect(result.broken).toBe(false);
  });

  it('shows a base change in dev alone, and in staging once a promotion pins staging to it', () => {
    repo.edit('gitops/base/worker.yaml', (text) => text.replace('replicas: 1', 'replicas: 2'));
    const change = repo.commit('two workers');

    const merged = renderDiff(repo.root, base, change);
    expect(merged.environments.map((diff) => [diff.env, diff.changes.map((c) => c.key)])).toEqual([
      ['dev', ['Deployment dev/worker']],
      ['staging', []],
      ['prod', []],
    ]);
    expect(merged.environments[0].changes[0].diff).toMatch(/^- {2}replicas: 1$/m);
    expect(merged.environments[0].changes[0].diff).toMatch(/^\+ {2}replicas: 2$/m);

    repo.write(repo.revisionPath('staging'), revisionFile(change));
    const promotion = repo.commit('staging: promote');
    const promoted = renderDiff(repo.root, change, promotion);
    expect(promoted.environments.map((diff) => [diff.env, diff.changes.map((c) => c.key)])).toEqual([
      ['dev', []],
      ['staging', ['Deployment staging/worker']],
      ['prod', []],
    ]);
    const text = formatText(promoted);
    expect(text).toContain('== staging: 1 changed, 0 added, 0 removed ==');
    expect(text).toContain('~ Deployment staging/worker (changed)');
  });

  it('fails to render an environment pinned to a commit the clone does not have', () => {
    repo.write(repo.revisionPath('prod'), revisionFile(SHA.d));
    const head = repo.commit('prod pinned to a commit nobody has');

    const result = renderDiff(repo.root, base, head);

    expect(result.broken).toBe(true);
    expect(result.environments[2].headError).toBe(
      `gitops/envs/prod/revision.yaml pins ${SHA.d}, which is not a commit in this clone`,
    );
  });

  it('lists added and removed objects whole', () => {
    repo.edit('gitops/base/kustomization.yaml', (text) =>
      text.replace('  - worker.yaml\n', '  - config.yaml\n'),
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
    repo.edit('gitops/base/redis-auth.yaml', (text) =>
      text.replace('first-password-value', 'second-password-value'),
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
    repo.edit(repo.overlayPath('dev'), (text) => text.replace('../../base', '../../bsae'));
    const head = repo.commit('typo');

    const result = runTool('render-diff', ['--base', base, '--head', head], repo.root);

    expect(result.status).toBe(1);
    expect(result.stdout).toContain('== dev: FAILS TO RENDER at head ==');
    expect(result.stdout).toContain('bsae');
    expect(result.stdout).toContain('== prod: no change ==');
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
    bump(repo.root, 'worker', SHA.c, DIGEST.c);
    const deployed = repo.commit('dev: deploy worker c');
    repo.write(repo.revisionPath('staging'), revisionFile(deployed));
    const head = repo.commit('staging: promote');

    const result = runTool(
      'render-diff',
      ['--base', base, '--head', head, '--format', 'markdown'],
      repo.root,
    );

    expect(result.status).toBe(0);
    expect(result.stdout).toContain('### staging: 1 changed, 0 added, 0 removed');
    expect(result.stdout).toContain('### prod: no change');
    expect(result.stdout).toContain('```diff\n@@');
    // 700 characters end inside the diff's code fence: the cut must close it before the note.
    const cut = truncate(result.stdout, 700);
    expect(cut.length).toBeLessThanOrEqual(700);
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
