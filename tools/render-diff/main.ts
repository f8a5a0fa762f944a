// render-diff: what Argo CD would change in each environment if a branch merged. It renders every
// environment overlay with the real `kubectl kustomize` as Argo CD would at two git revisions (each
// environment from the commit its revision.yaml pins there: dev from the revision itself, staging and prod
// from their pinned commits) and diffs the rendered objects one by one, so a reviewer sees "Rollout
// prod/api: image x -> y" instead of a YAML file diff whose effect on three environments they would have
// to work out by hand. A change to gitops/base shows in dev alone until a promotion carries it on.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseOptions, runCli, UsageError, valueFlags } from '../lib/cli';
import { isMapping, type KubernetesObject } from '../lib/kubernetes';
import { kustomizeObjects, RenderError } from '../lib/kustomize';
import { fileAt } from '../lib/git';
import {
  COMMIT_PATTERN,
  ENVIRONMENTS,
  MAIN_BRANCH,
  parseEnvironment,
  revisionPath,
  targetRevisionIn,
  type Environment,
} from '../lib/gitops';

const USAGE = `Usage: npm run render-diff -- --base <git-rev> [--head <git-rev>] [--env <env>] [--format text|markdown]
                           [--max-chars <n>] [--root <dir>]

Renders gitops/envs/<env> with "kubectl kustomize" as Argo CD would at both revisions, for every
environment (or only --env): dev from the revision itself, staging and prod from the commit their
gitops/envs/<env>/revision.yaml pins at that revision. Prints the objects that were added, removed or
changed, with a unified diff of each change. Secret values are replaced by a hash of the value, so a
change shows without the value. The pinned commits must be in the clone (fetch-depth: 0 in CI).

  --base       revision the branch is compared against (for a pull request: its merge base)
  --head       revision with the change (default: HEAD)
  --env        only this environment (default: ${ENVIRONMENTS.join(', ')})
  --format     text (default) or markdown (the pull request comment ci.yml posts)
  --max-chars  cut the output at about this many characters and say so (GitHub comments hold 65536)
  --root       repository root (default: current directory)

Exit status: 0 rendered (with or without differences), 2 bad arguments, 1 an overlay fails to render
at --head (Argo CD would fail to sync it) or git could not read a revision.`;

/** One rendered Kubernetes object, keyed the way Argo CD's diff lists resources. */
interface RenderedObject {
  key: string;
  text: string;
}

type Rendering =
  | { kind: 'absent' }
  | { kind: 'failed'; error: string }
  | { kind: 'rendered'; objects: Map<string, RenderedObject> };

export interface ObjectChange {
  key: string;
  change: 'added' | 'removed' | 'changed';
  diff: string;
}

export interface EnvironmentDiff {
  env: Environment;
  base: Rendering['kind'];
  head: Rendering['kind'];
  headError?: string;
  baseError?: string;
  changes: ObjectChange[];
}

export interface RenderDiffResult {
  base: string;
  head: string;
  environments: EnvironmentDiff[];
  /** True when some overlay renders at base but not at head, or no longer exists. */
  broken: boolean;
}

function run(command: string, args: string[], options: { cwd?: string; input?: Buffer } = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    input: options.input,
    maxBuffer: 512 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${command} could not be started: ${result.error.message}`);
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr.toString('utf8').trim() };
}

function resolveRevision(root: string, revision: string, flag: string): string {
  const result = run('git', ['-C', root, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`]);
  if (result.status !== 0) throw new UsageError(`${flag} "${revision}" is not a commit in ${root}`);
  return result.stdout.toString('utf8').trim();
}

/** The tree of one commit, written out on its own: the working tree is neither read nor touched. */
function exportRevision(root: string, commit: string, into: string): void {
  mkdirSync(into, { recursive: true });
  const archive = run('git', ['-C', root, 'archive', '--format=tar', commit]);
  if (archive.status !== 0) throw new Error(`git archive ${commit} failed: ${archive.stderr}`);
  const untar = run('tar', ['-x', '-C', into], { input: archive.stdout });
  if (untar.status !== 0) throw new Error(`unpacking ${commit} failed: ${untar.stderr}`);
}

/** Secrets are shown as a digest of each value: a reviewer sees that a value changed, never the value. */
function redactSecret(object: KubernetesObject): KubernetesObject {
  if (object.kind !== 'Secret') return object;
  const redacted = { ...object };
  for (const field of ['data', 'stringData']) {
    const values = object[field];
    if (isMapping(values)) {
      redacted[field] = Object.fromEntries(
        Object.entries(values).map(([name, value]) => [
          name,
          `<redacted sha256:${createHash('sha256').update(String(value)).digest('hex').slice(0, 12)}>`,
        ]),
      );
    }
  }
  return redacted;
}

function objectKey(object: KubernetesObject): string {
  const namespace = object.metadata?.namespace ? `${object.metadata.namespace}/` : '';
  return `${object.kind} ${namespace}${String(object.metadata?.name)}`;
}

/**
 * The commit Argo CD renders `env` from when the repository is at `revision`: the one its revision.yaml
 * pins, or the revision itself when it follows main (or, before revision files existed, had none).
 */
function deployedCommit(root: string, revision: string, env: Environment): string | { error: string } {
  const text = fileAt(root, revision, revisionPath(env));
  const target = text === undefined ? undefined : targetRevisionIn(text);
  if (target === undefined || target === MAIN_BRANCH) return revision;
  if (!COMMIT_PATTERN.test(target))
    return { error: `${revisionPath(env)} pins "${target}", not a full commit sha` };
  const result = run('git', ['-C', root, 'cat-file', '-e', `${target}^{commit}`]);
  if (result.status !== 0)
    return { error: `${revisionPath(env)} pins ${target}, which is not a commit in this clone` };
  return target;
}

function renderOverlay(tree: string, env: Environment): Rendering {
  const overlay = join(tree, 'gitops', 'envs', env);
  if (!existsSync(join(overlay, 'kustomization.yaml'))) return { kind: 'absent' };
  let rendered: KubernetesObject[];
  try {
    rendered = kustomizeObjects(overlay, `gitops/envs/${env}`);
  } catch (error) {
    if (!(error instanceof RenderError)) throw error;
    return { kind: 'failed', error: error.message };
  }
  const objects = new Map<string, RenderedObject>();
  for (const object of rendered.map(redactSecret)) {
    const key = objectKey(object);
    objects.set(key, { key, text: stringify(object, { lineWidth: 0 }) });
  }
  return { kind: 'rendered', objects };
}

/** A unified diff of two texts from git itself, with git's file headers replaced by the object's name. */
function unifiedDiff(scratch: string, before: string, after: string): string {
  const beforePath = join(scratch, 'before.yaml');
  const afterPath = join(scratch, 'after.yaml');
  writeFileSync(beforePath, before);
  writeFileSync(afterPath, after);
  const result = run('git', ['diff', '--no-index', '--no-color', '--unified=3', beforePath, afterPath]);
  if (result.status > 1) throw new Error(`git diff failed: ${result.stderr}`);
  const lines = result.stdout.toString('utf8').split('\n');
  const firstHunk = lines.findIndex((line) => line.startsWith('@@'));
  return firstHunk < 0 ? '' : lines.slice(firstHunk).join('\n').trimEnd();
}

function prefixed(text: string, marker: '+' | '-'): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `${marker}${line}`)
    .join('\n');
}

function compare(env: Environment, base: Rendering, head: Rendering, scratch: string): EnvironmentDiff {
  const diff: EnvironmentDiff = { env, base: base.kind, head: head.kind, changes: [] };
  if (base.kind === 'failed') diff.baseError = base.error;
  if (head.kind === 'failed') {
    diff.headError = head.error;
    return diff;
  }
  const before = base.kind === 'rendered' ? base.objects : new Map<string, RenderedObject>();
  const after = head.kind === 'rendered' ? head.objects : new Map<string, RenderedObject>();
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const key of keys) {
    const old = before.get(key);
    const next = after.get(key);
    if (old && !next) diff.changes.push({ key, change: 'removed', diff: prefixed(old.text, '-') });
    else if (!old && next) diff.changes.push({ key, change: 'added', diff: prefixed(next.text, '+') });
    else if (old && next && old.text !== next.text)
      diff.changes.push({ key, change: 'changed', diff: unifiedDiff(scratch, old.text, next.text) });
  }
  return diff;
}

export function renderDiff(
  root: string,
  baseRevision: string,
  headRevision: string,
  environments: readonly Environment[] = ENVIRONMENTS,
): RenderDiffResult {
  const base = resolveRevision(root, baseRevision, '--base');
  const head = resolveRevision(root, headRevision, '--head');
  const scratch = mkdtempSync(join(tmpdir(), 'render-diff-'));
  const exported = new Set<string>();
  const renderAt = (revision: string, env: Environment): Rendering => {
    const commit = deployedCommit(root, revision, env);
    if (typeof commit !== 'string') return { kind: 'failed', error: commit.error };
    const tree = join(scratch, commit);
    if (!exported.has(commit)) {
      exportRevision(root, commit, tree);
      exported.add(commit);
    }
    return renderOverlay(tree, env);
  };
  try {
    const result: RenderDiffResult = { base, head, environments: [], broken: false };
    for (const env of environments) {
      const diff = compare(env, renderAt(base, env), renderAt(head, env), scratch);
      if (diff.head === 'failed' || (diff.head === 'absent' && diff.base !== 'absent')) result.broken = true;
      result.environments.push(diff);
    }
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * What Argo CD would deploy to `env` with the repository at `revision`: the rendered objects by key, their
 * image references easy to read. Throws when the environment does not render there.
 */
export function renderEnvironment(root: string, revision: string, env: Environment): Map<string, string> {
  const commit = deployedCommit(root, resolveRevision(root, revision, 'revision'), env);
  if (typeof commit !== 'string') throw new Error(commit.error);
  const scratch = mkdtempSync(join(tmpdir(), 'render-env-'));
  try {
    exportRevision(root, commit, scratch);
    const rendering = renderOverlay(scratch, env);
    if (rendering.kind !== 'rendered')
      throw new Error(
        `${env} does not render at ${commit}: ${rendering.kind === 'failed' ? rendering.error : 'no overlay'}`,
      );
    return new Map([...rendering.objects].map(([key, object]) => [key, object.text]));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function summary(diff: EnvironmentDiff): string {
  if (diff.head === 'failed') return 'FAILS TO RENDER at head';
  if (diff.head === 'absent')
    return diff.base === 'absent' ? 'no overlay at either revision' : 'overlay REMOVED at head';
  if (diff.changes.length === 0) return 'no change';
  const count = (kind: ObjectChange['change']) =>
    diff.changes.filter((change) => change.change === kind).length;
  const parts = [`${count('changed')} changed`, `${count('added')} added`, `${count('removed')} removed`];
  return diff.base === 'absent' ? `new overlay: ${parts.join(', ')}` : parts.join(', ');
}

function markerOf(change: ObjectChange['change']): string {
  return change === 'added' ? '+' : change === 'removed' ? '-' : '~';
}

export function formatText(result: RenderDiffResult): string {
  const out: string[] = [`kustomize render diff ${result.base.slice(0, 12)}..${result.head.slice(0, 12)}`];
  for (const diff of result.environments) {
    out.push('', `== ${diff.env}: ${summary(diff)} ==`);
    if (diff.headError) out.push(diff.headError);
    if (diff.baseError) out.push(`(at base it failed to render: ${diff.baseError})`);
    for (const change of diff.changes)
      out.push(`${markerOf(change.change)} ${change.key} (${change.change})`, change.diff);
  }
  return `${out.join('\n')}\n`;
}

export function formatMarkdown(result: RenderDiffResult): string {
  const out: string[] = [
    '## Rendered manifest diff',
    '',
    `What Argo CD will change in each environment if this merges (\`kubectl kustomize gitops/envs/<env>\` at ` +
      `\`${result.base.slice(0, 12)}\` and \`${result.head.slice(0, 12)}\`, each environment from the commit ` +
      'its `revision.yaml` pins there).',
  ];
  for (const diff of result.environments) {
    out.push('', `### ${diff.env}: ${summary(diff)}`);
    if (diff.headError) out.push('', '```', diff.headError, '```');
    for (const change of diff.changes) {
      out.push(
        '',
        `<details${diff.changes.length <= 5 ? ' open' : ''}><summary><code>${markerOf(change.change)} ${change.key}</code> (${change.change})</summary>`,
        '',
      );
      out.push('```diff', change.diff, '```', '', '</details>');
    }
  }
  return `${out.join('\n')}\n`;
}

/** Cut at a line boundary and say how to see the rest: a half comment that says so beats no comment. */
export function truncate(text: string, maxChars: number | undefined): string {
  if (maxChars === undefined || text.length <= maxChars) return text;
  const note =
    '\n\n… output cut here: run `npm run render-diff -- --base <base> --head <head>` locally for the whole diff.\n';
  const fence = '\n```';
  const budget = maxChars - note.length - fence.length;
  const cut = text.lastIndexOf('\n', budget);
  const kept = text.slice(0, cut > 0 ? cut : budget);
  // An unclosed code fence would swallow the note in Markdown.
  const openFence = (kept.match(/^```/gm) ?? []).length % 2 === 1 ? fence : '';
  return `${kept}${openFence}${note}`;
}

if (require.main === module) {
  void runCli('render-diff', USAGE, (argv) => {
    const options = parseOptions(argv, valueFlags('base', 'head', 'env', 'format', 'max-chars', 'root'));
    if (!options.base) throw new UsageError('--base is required');
    const format = options.format ?? 'text';
    if (format !== 'text' && format !== 'markdown')
      throw new UsageError(`--format must be text or markdown, not "${format}"`);
    const maxChars = options['max-chars'] === undefined ? undefined : Number(options['max-chars']);
    if (maxChars !== undefined && !(Number.isInteger(maxChars) && maxChars >= 1000)) {
      throw new UsageError(
        `--max-chars must be a whole number of at least 1000, not "${options['max-chars']}"`,
      );
    }
    const environments = options.env === undefined ? ENVIRONMENTS : [parseEnvironment(options.env, '--env')];
    const result = renderDiff(
      options.root ?? process.cwd(),
      options.base,
      options.head ?? 'HEAD',
      environments,
    );
    process.stdout.write(
      truncate(format === 'markdown' ? formatMarkdown(result) : formatText(result), maxChars),
    );
    if (result.broken) process.exitCode = 1;
  });
}
