// Reading a repository's history for the delivery tools: what a file said at a commit, which commits a
// branch passed through, and whether one commit contains another. Every call is the git command line, so
// the tools see exactly what `git` sees in CI and on a workstation.
import { spawnSync } from 'node:child_process';
import { UsageError } from './cli';

function git(root: string, args: string[], input?: string) {
  const result = spawnSync('git', ['-C', root, ...args], {
    encoding: 'utf8',
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw new Error(`git could not be started: ${result.error.message}`);
  return result;
}

/** The full commit sha `revision` names, or a UsageError saying which flag named something git cannot read. */
export function resolveCommit(root: string, revision: string, flag: string): string {
  const result = git(root, ['rev-parse', '--verify', '--quiet', `${revision}^{commit}`]);
  if (result.status !== 0)
    throw new UsageError(`${flag} "${revision}" is not a commit git can read in ${root}`);
  return result.stdout.trim();
}

/** The text of `path` at `commit`, or undefined when the commit has no such file. */
export function fileAt(root: string, commit: string, path: string): string | undefined {
  const result = git(root, ['show', `${commit}:${path}`]);
  return result.status === 0 ? result.stdout : undefined;
}

/** True when `ancestor` is `descendant` or in its history. */
export function isAncestor(root: string, ancestor: string, descendant: string): boolean {
  return git(root, ['merge-base', '--is-ancestor', ancestor, descendant]).status === 0;
}

/**
 * The commits a branch itself pointed at, newest first: its first-parent chain. A pull request's own
 * commits are not on it, only the merge (or squash) that brought them in, so this is every state dev ran.
 */
export function firstParentChain(root: string, tip: string): string[] {
  const result = git(root, ['rev-list', '--first-parent', tip]);
  if (result.status !== 0) throw new Error(`git rev-list ${tip} failed: ${result.stderr.trim()}`);
  return result.stdout.split('\n').filter(Boolean);
}

/** Every version of `path` in the history of `revision`, oldest first, read with one git process. */
export function versionsInHistory(
  root: string,
  revision: string,
  path: string,
): { commit: string; text: string }[] {
  const log = git(root, ['log', '--format=%H', revision, '--', path]);
  if (log.status !== 0) throw new Error(`git log ${revision} -- ${path} failed: ${log.stderr.trim()}`);
  const commits = log.stdout.split('\n').filter(Boolean).reverse();
  if (commits.length === 0) return [];
  const batch = spawnSync('git', ['-C', root, 'cat-file', '--batch'], {
    input: commits.map((commit) => `${commit}:${path}\n`).join(''),
    maxBuffer: 256 * 1024 * 1024,
  });
  if (batch.status !== 0) throw new Error(`git cat-file failed: ${batch.stderr.toString('utf8')}`);
  const output = batch.stdout;
  const versions: { commit: string; text: string }[] = [];
  let offset = 0;
  for (const commit of commits) {
    const headerEnd = output.indexOf(0x0a, offset);
    const header = output.subarray(offset, headerEnd).toString('utf8');
    offset = headerEnd + 1;
    if (header.endsWith(' missing')) continue; // the commit deleted the file
    const size = Number(header.split(' ')[2]);
    versions.push({ commit, text: output.subarray(offset, offset + size).toString('utf8') });
    offset += size + 1;
  }
  return versions;
}

/** One line per commit in `from..to` that touched `paths`: what a promotion carries besides the images. */
export function commitsBetween(root: string, from: string, to: string, paths: string[]): string[] {
  const result = git(root, ['log', '--format=%h %s', `${from}..${to}`, '--', ...paths]);
  if (result.status !== 0) throw new Error(`git log ${from}..${to} failed: ${result.stderr.trim()}`);
  return result.stdout.split('\n').filter(Boolean);
}
