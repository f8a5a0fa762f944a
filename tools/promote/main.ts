// promote: copy the image tags one environment runs into the next one (dev -> staging -> prod).
// promote.yml runs it and opens a pull request with the result; the pull request is the approval.
import { spawnSync } from 'node:child_process';
import { relative } from 'node:path';
import { parseOptions, runCli, UsageError } from '../lib/cli';
import {
  ENVIRONMENTS,
  EnvironmentKustomization,
  IMAGE_TAG_PATTERN,
  SERVICES,
  imageTagsIn,
  kustomizationPath,
  imageName,
  parseEnvironment,
  parseImageTag,
  parseService,
  previousEnvironment,
  type Environment,
  type Service,
} from '../lib/gitops';

const USAGE = `Usage: npm run promote -- --to <staging|prod> [--from <env>] [--service <api|worker> [--tag <git-sha>]]
                       [--dry-run] [--markdown] [--root <dir>]
       npm run promote -- --verify [--ran-on <git-rev>] [--root <dir>]

Copies the image tags that the previous environment runs into gitops/envs/<to>/kustomization.yaml.
Only the image tags of the target overlay change; comments and order are kept.

  --to       environment to promote into: staging (from dev) or prod (from staging)
  --from     environment to promote from; must be the one right before --to (optional, checked if given)
  --service  promote only this service (default: every service)
  --tag      refuse unless --from runs exactly this tag for --service (guards a reviewed sha)
  --dry-run  print the changes without writing the file
  --markdown print the changes as a Markdown table (the promotion pull request's body)
  --root     repository root (default: current directory)
  --verify   change nothing; check that every tag staging and prod name (in the working tree) was set in
             the environment before it at some commit reachable from --ran-on (ci.yml runs this on every
             pull request, so a hand-edited overlay cannot skip an environment either)
  --ran-on   the history that counts for --verify (default: HEAD; for a pull request: its base)

Refused: skipping an environment (dev -> prod), promoting backwards, a tag the source environment does
not run, and a source overlay without a valid tag. Exit status: 0 promoted or nothing to do,
2 bad arguments, 1 refused or the overlays could not be read or written.`;

export interface TagChange {
  service: Service;
  image: string;
  previousTag: string | undefined;
  tag: string;
}

export interface PromotionPlan {
  from: Environment;
  to: Environment;
  changes: TagChange[];
  alreadyCurrent: Service[];
}

export interface PromoteRequest {
  root: string;
  from?: string;
  to: string | undefined;
  service?: string;
  tag?: string;
  dryRun?: boolean;
}

/** A promotion that must not happen: the message says why and what to do instead. */
export class PromotionRefused extends Error {
  override name = 'PromotionRefused';
}

function resolveSource(to: Environment, fromName: string | undefined): Environment {
  const expected = previousEnvironment(to);
  if (expected === undefined) {
    throw new UsageError(
      `nothing is promoted into ${to}: release.yml writes ${to} after every build of main`,
    );
  }
  if (fromName === undefined) return expected;
  const from = parseEnvironment(fromName, '--from');
  const fromIndex = ENVIRONMENTS.indexOf(from);
  const toIndex = ENVIRONMENTS.indexOf(to);
  if (fromIndex >= toIndex) {
    throw new PromotionRefused(
      `refusing to promote ${from} -> ${to}: promotion only moves forward (${ENVIRONMENTS.join(' -> ')})`,
    );
  }
  if (from !== expected) {
    throw new PromotionRefused(
      `refusing to promote ${from} -> ${to}: it would skip ${ENVIRONMENTS.slice(fromIndex + 1, toIndex).join(', ')}; ` +
        `promote ${from} -> ${ENVIRONMENTS[fromIndex + 1]} first, so the release runs there before it reaches ${to}`,
    );
  }
  return from;
}

export function promote(request: PromoteRequest): PromotionPlan {
  const to = parseEnvironment(request.to, '--to');
  const from = resolveSource(to, request.from);
  const services: Service[] =
    request.service === undefined ? [...SERVICES] : [parseService(request.service, '--service')];
  const requestedTag = request.tag === undefined ? undefined : parseImageTag(request.tag, '--tag');
  if (requestedTag !== undefined && request.service === undefined) {
    throw new UsageError('--tag needs --service: a tag belongs to one service image');
  }

  const source = EnvironmentKustomization.load(request.root, from);
  const target = EnvironmentKustomization.load(request.root, to);
  const plan: PromotionPlan = { from, to, changes: [], alreadyCurrent: [] };

  for (const service of services) {
    const sourceTag = source.tagOf(service);
    if (sourceTag === undefined) {
      throw new PromotionRefused(
        `refusing to promote ${service}: ${from} sets no tag for ${imageName(service)} in ${source.path}`,
      );
    }
    if (!IMAGE_TAG_PATTERN.test(sourceTag)) {
      throw new PromotionRefused(
        `refusing to promote ${service}: ${from} runs "${sourceTag}", which is not a full git commit sha; only an image built by release.yml can be promoted`,
      );
    }
    if (requestedTag !== undefined && requestedTag !== sourceTag) {
      throw new PromotionRefused(
        `refusing to promote ${service} ${requestedTag} to ${to}: ${from} runs ${sourceTag}, not ${requestedTag}; ` +
          `a tag reaches ${to} only after it has run in ${from}`,
      );
    }
    const previousTag = target.tagOf(service);
    if (target.setTag(service, sourceTag)) {
      plan.changes.push({ service, image: imageName(service), previousTag, tag: sourceTag });
    } else {
      plan.alreadyCurrent.push(service);
    }
  }

  if (!request.dryRun) target.save();
  return plan;
}

export interface HistoryCheck {
  ok: boolean;
  lines: string[];
}

/** Every version of `path` in the history of `revision`, oldest first, read with one git process. */
function versionsInHistory(root: string, revision: string, path: string): { commit: string; text: string }[] {
  const log = spawnSync('git', ['-C', root, 'log', '--format=%H', revision, '--', path], {
    encoding: 'utf8',
  });
  if (log.status !== 0)
    throw new UsageError(`--ran-on "${revision}" is not a revision git can read: ${log.stderr.trim()}`);
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

/**
 * The guarantee promote gives, checked on the result instead of the tool: every tag staging and prod name
 * was, at some commit of `ranOn`'s history, the tag of the environment before them. It catches a promotion
 * typed by hand that skips an environment or invents a tag.
 */
export function verifyPromotionHistory(root: string, ranOn: string): HistoryCheck {
  const lines: string[] = [];
  let ok = true;
  for (const env of ENVIRONMENTS) {
    const source = previousEnvironment(env);
    if (source === undefined) continue;
    const proposed = EnvironmentKustomization.load(root, env);
    const history = versionsInHistory(root, ranOn, relative(root, kustomizationPath(root, source)));
    for (const service of SERVICES) {
      const tag = proposed.tagOf(service);
      if (tag === undefined) continue;
      const first = history.find((version) => imageTagsIn(version.text).get(service) === tag);
      if (first) {
        lines.push(
          `ok: ${env} ${service} ${tag.slice(0, 12)} ran in ${source} (set at ${first.commit.slice(0, 12)})`,
        );
      } else {
        ok = false;
        lines.push(
          `refused: ${env} ${service} ${tag} never ran in ${source} (history of ${ranOn}); promote ${source} -> ${env} with the tag ${source} runs`,
        );
      }
    }
  }
  return { ok, lines };
}

export function describePlan(plan: PromotionPlan): string {
  if (plan.changes.length === 0) {
    return `${plan.to} already runs what ${plan.from} runs (${plan.alreadyCurrent.join(', ')}); nothing to promote\n`;
  }
  const lines = plan.changes.map(
    (change) =>
      `${plan.to}: ${change.image} ${change.previousTag ?? '(unset)'} -> ${change.tag} (as in ${plan.from})`,
  );
  return `${lines.join('\n')}\n`;
}

export function planAsMarkdown(plan: PromotionPlan): string {
  if (plan.changes.length === 0)
    return `\`${plan.to}\` already runs what \`${plan.from}\` runs; nothing to promote.\n`;
  const rows = plan.changes.map(
    (change) => `| \`${change.image}\` | \`${change.previousTag ?? '(unset)'}\` | \`${change.tag}\` |`,
  );
  return [
    `Promotes the image tags that run in \`${plan.from}\` to \`${plan.to}\`. Only \`gitops/envs/${plan.to}/kustomization.yaml\` changes.`,
    '',
    `| image | ${plan.to} now | after merge (running in ${plan.from}) |`,
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

if (require.main === module) {
  void runCli('promote', USAGE, (argv) => {
    const options = parseOptions(argv, {
      from: { type: 'string' },
      to: { type: 'string' },
      service: { type: 'string' },
      tag: { type: 'string' },
      'dry-run': { type: 'boolean' },
      markdown: { type: 'boolean' },
      verify: { type: 'boolean' },
      'ran-on': { type: 'string' },
      root: { type: 'string' },
    });
    if (options.verify) {
      const promotionFlags = ['to', 'from', 'service', 'tag', 'dry-run', 'markdown'] as const;
      const extra = promotionFlags.filter((flag) => options[flag] !== undefined);
      if (extra.length > 0)
        throw new UsageError(
          `--verify changes nothing and takes no ${extra.map((flag) => `--${flag}`).join(', ')}`,
        );
      const check = verifyPromotionHistory(options.root ?? process.cwd(), options['ran-on'] ?? 'HEAD');
      process.stdout.write(`${check.lines.join('\n')}\n`);
      if (!check.ok) process.exitCode = 1;
      return;
    }
    if (options['ran-on'] !== undefined) throw new UsageError('--ran-on belongs to --verify');
    const plan = promote({
      root: options.root ?? process.cwd(),
      from: options.from,
      to: options.to,
      service: options.service,
      tag: options.tag,
      dryRun: options['dry-run'],
    });
    process.stdout.write(options.markdown ? planAsMarkdown(plan) : describePlan(plan));
  });
}
