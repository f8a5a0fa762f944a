// promote: copy the image tags one environment runs into the next one (dev -> staging -> prod).
// promote.yml runs it and opens a pull request with the result; the pull request is the approval.
import { runCli, parseOptions } from '../lib/cli';
import {
  ENVIRONMENTS,
  EnvironmentKustomization,
  IMAGE_TAG_PATTERN,
  SERVICES,
  UsageError,
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

Copies the image tags that the previous environment runs into gitops/envs/<to>/kustomization.yaml.
Only the image tags of the target overlay change; comments and order are kept.

  --to       environment to promote into: staging (from dev) or prod (from staging)
  --from     environment to promote from; must be the one right before --to (optional, checked if given)
  --service  promote only this service (default: every service)
  --tag      refuse unless --from runs exactly this tag for --service (guards a reviewed sha)
  --dry-run  print the changes without writing the file
  --markdown print the changes as a Markdown table (the promotion pull request's body)
  --root     repository root (default: current directory)

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
      root: { type: 'string' },
    });
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
