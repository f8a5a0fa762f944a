// promote: move an environment to the commit of main the environment before it runs (dev -> staging ->
// prod). The commit is the whole release: the image digests release.yml wrote into gitops/images, and every
// manifest under gitops/ and rollouts/ as they were at that commit. promote.yml runs it and opens a pull
// request with the result; the pull request is the approval.
import { parseOptions, runCli, switchFlags, UsageError, valueFlags } from '../lib/cli';
import {
  commitsBetween,
  fileAt,
  firstParentChain,
  isAncestor,
  resolveCommit,
  versionsInHistory,
} from '../lib/git';
import {
  COMMIT_PATTERN,
  ENVIRONMENTS,
  EnvironmentRevision,
  IMAGE_DIGEST_PATTERN,
  IMAGE_TAG_PATTERN,
  IMAGES_COMPONENT,
  MAIN_BRANCH,
  SERVICES,
  imageName,
  imageReference,
  imagesIn,
  parseEnvironment,
  parseImageDigest,
  parseService,
  previousEnvironment,
  revisionPath,
  targetRevisionIn,
  type Environment,
  type ImageRelease,
  type Service,
} from '../lib/gitops';

const USAGE = `Usage: npm run promote -- --to <staging|prod> [--from <env>] [--revision <commit>]
                       [--digest <service>=sha256:<hex>]... [--main <git-rev>] [--dry-run] [--markdown]
                       [--root <dir>]
       npm run promote -- --verify [--main <git-rev>] [--root <dir>]
       npm run promote -- --running [--main <git-rev>] [--root <dir>]

Pins gitops/envs/<to>/revision.yaml to the commit of main that the previous environment runs: dev runs
main itself, staging and prod the commit their revision.yaml names on main. That commit carries the image
digests (gitops/images) and every manifest, so images, base, rollouts and env config travel together.

  --to       environment to promote into: staging (from dev) or prod (from staging)
  --from     environment to promote from; must be the one right before --to (optional, checked if given)
  --revision refuse unless the source runs this commit (staging: a commit main has been at; prod: the
             commit staging is pinned to). Without it: the source's current commit.
  --digest   refuse unless that commit names this digest for the service (guards a reviewed image)
  --main     the branch whose history counts (default: origin/${MAIN_BRANCH}); never the working tree
  --dry-run  print the promotion without writing the file
  --markdown print the promotion as Markdown (the promotion pull request's body)
  --root     repository root (default: current directory)
  --verify   change nothing; check the revision files of the working tree against --main: dev follows
             main, staging is pinned to a commit main has been at, prod to a commit staging was pinned to
             on main before prod was, and each pinned commit names every image by digest (ci.yml runs it
             on every trigger, so a hand-edited revision cannot skip an environment either)
  --running  change nothing; print, as JSON, each image digest staging and prod run on --main with the
             environments that run it (rescan.yml scans exactly these every day)

Refused: skipping an environment (dev -> prod), promoting backwards (roll back by reverting the
promotion commit), a commit the source environment does not run, and a commit whose images are not
named by tag and digest. Exit status: 0 promoted or nothing to do, 2 bad arguments, 1 refused or the
repository could not be read or written.`;

/** The paths whose changes a promotion carries besides the images: listed in the pull request. */
const MANIFEST_PATHS = ['gitops', 'rollouts'];
/** Earlier promotions change only revision files, which render nothing: not worth a line in the list. */
const NOT_MANIFESTS = [':(exclude)gitops/envs/*/revision.yaml'];

export interface ImageChange {
  service: Service;
  before: ImageRelease | undefined;
  after: ImageRelease;
}

export interface PromotionPlan {
  from: Environment;
  to: Environment;
  previousRevision: string | undefined;
  revision: string;
  images: ImageChange[];
  /** Commits between the two revisions that changed manifests, newest first ("<short sha> <subject>"). */
  manifestCommits: string[];
  alreadyCurrent: boolean;
}

export interface PromoteRequest {
  root: string;
  from?: string;
  to: string | undefined;
  revision?: string;
  digests?: string[];
  main?: string;
  dryRun?: boolean;
}

/** A promotion that must not happen: the message says why and what to do instead. */
export class PromotionRefused extends Error {
  override name = 'PromotionRefused';
}

function resolveSource(to: Environment, fromName: string | undefined): Environment {
  const expected = previousEnvironment(to);
  if (expected === undefined) {
    throw new UsageError(`nothing is promoted into ${to}: it follows ${MAIN_BRANCH}, every merge reaches it`);
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

/** What revision.yaml of `env` says on the commit `main`, or undefined when that commit has none. */
function revisionOnMain(root: string, main: string, env: Environment): string | undefined {
  const text = fileAt(root, main, revisionPath(env));
  return text === undefined ? undefined : targetRevisionIn(text);
}

/** The commit `env` renders according to main: main itself for dev, the pinned commit for the others. */
function runningCommit(root: string, main: string, env: Environment): string | undefined {
  const revision = revisionOnMain(root, main, env);
  if (revision === MAIN_BRANCH) return main;
  return revision !== undefined && COMMIT_PATTERN.test(revision) ? revision : undefined;
}

/** The images a commit names, refusing any service without a full tag and digest. */
function imagesAt(
  root: string,
  commit: string,
  refuse: (message: string) => never,
): Map<Service, ImageRelease> {
  const text = fileAt(root, commit, IMAGES_COMPONENT);
  if (text === undefined) refuse(`commit ${commit} has no ${IMAGES_COMPONENT}: it names no image by digest`);
  const images = imagesIn(text);
  for (const service of SERVICES) {
    const release = images.get(service);
    if (
      !release?.digest ||
      !IMAGE_DIGEST_PATTERN.test(release.digest) ||
      !release.tag ||
      !IMAGE_TAG_PATTERN.test(release.tag)
    ) {
      refuse(
        `commit ${commit.slice(0, 12)} names ${imageReference(service, release ?? {})} in ${IMAGES_COMPONENT}: ` +
          'only an image release.yml built, by its git sha tag and digest, is promoted',
      );
    }
  }
  return images;
}

function parseDigestGuards(values: string[]): Map<Service, string> {
  const guards = new Map<Service, string>();
  for (const value of values) {
    const [service, digest] = value.split('=', 2);
    guards.set(parseService(service, '--digest'), parseImageDigest(digest, `--digest ${service}=`));
  }
  return guards;
}

export function promote(request: PromoteRequest): PromotionPlan {
  const to = parseEnvironment(request.to, '--to');
  const from = resolveSource(to, request.from);
  const guards = parseDigestGuards(request.digests ?? []);
  const main = resolveCommit(request.root, request.main ?? `origin/${MAIN_BRANCH}`, '--main');
  const refuse = (message: string): never => {
    throw new PromotionRefused(`refusing to promote ${from} -> ${to}: ${message}`);
  };

  const sourceCommit = runningCommit(request.root, main, from);
  if (sourceCommit === undefined)
    refuse(`${revisionPath(from)} on ${MAIN_BRANCH} pins no commit, so ${from} runs nothing promotable`);
  let revision = sourceCommit!;
  if (request.revision !== undefined) {
    const requested = resolveCommit(request.root, request.revision, '--revision');
    const runs =
      from === 'dev' ? firstParentChain(request.root, main).includes(requested) : requested === sourceCommit;
    if (!runs) {
      refuse(
        from === 'dev'
          ? `${requested} is not a commit ${MAIN_BRANCH} has been at, so dev never ran it`
          : `${from} runs ${sourceCommit}, not ${requested}; a commit reaches ${to} only after it ran in ${from}`,
      );
    }
    revision = requested;
  }

  const after = imagesAt(request.root, revision, refuse);
  for (const [service, digest] of guards) {
    const running = after.get(service)!.digest;
    if (running !== digest)
      refuse(`${from} runs ${imageName(service)}@${running} at ${revision.slice(0, 12)}, not ${digest}`);
  }

  const previousRevision = runningCommit(request.root, main, to);
  if (
    previousRevision !== undefined &&
    previousRevision !== revision &&
    isAncestor(request.root, revision, previousRevision)
  ) {
    refuse(
      `${to} already runs ${previousRevision.slice(0, 12)}, which contains ${revision.slice(0, 12)}: promotion ` +
        `only moves forward; to roll back, revert the promotion commit (docs/promotion.md)`,
    );
  }
  const before =
    previousRevision === undefined
      ? new Map<Service, ImageRelease>()
      : imagesIn(fileAt(request.root, previousRevision, IMAGES_COMPONENT) ?? '');
  const plan: PromotionPlan = {
    from,
    to,
    previousRevision,
    revision,
    images: SERVICES.map((service) => ({ service, before: before.get(service), after: after.get(service)! })),
    manifestCommits:
      previousRevision === undefined || previousRevision === revision
        ? []
        : commitsBetween(request.root, previousRevision, revision, [...MANIFEST_PATHS, ...NOT_MANIFESTS]),
    alreadyCurrent: previousRevision === revision,
  };

  const target = EnvironmentRevision.load(request.root, to);
  target.pin(revision);
  if (!request.dryRun) target.save();
  return plan;
}

export interface HistoryCheck {
  ok: boolean;
  lines: string[];
}

/**
 * The guarantee promote gives, checked on the result instead of the tool, against main's history (never
 * the branch's own): dev follows main; staging is pinned to a commit main has been at; prod to a commit
 * staging was pinned to on main before prod was; every pinned commit names each image by tag and digest.
 * It catches a revision typed by hand that skips an environment or names a commit nobody ran.
 */
export function verifyPromotionHistory(root: string, mainRevision: string): HistoryCheck {
  const main = resolveCommit(root, mainRevision, '--main');
  const lines: string[] = [];
  let ok = true;
  const refuse = (line: string) => {
    ok = false;
    lines.push(`refused: ${line}`);
  };
  const chain = new Set(firstParentChain(root, main));
  for (const env of ENVIRONMENTS) {
    const revision = EnvironmentRevision.load(root, env).targetRevision;
    const source = previousEnvironment(env);
    if (source === undefined) {
      if (revision === MAIN_BRANCH) lines.push(`ok: ${env} follows ${MAIN_BRANCH}`);
      else refuse(`${env} must follow ${MAIN_BRANCH} (targetRevision: ${MAIN_BRANCH}), not "${revision}"`);
      continue;
    }
    if (revision === undefined || !COMMIT_PATTERN.test(revision)) {
      refuse(`${env} is pinned to "${revision ?? '(nothing)'}", not a full commit sha of ${MAIN_BRANCH}`);
      continue;
    }
    let imagesOk = true;
    try {
      imagesAt(root, revision, (message) => {
        throw new PromotionRefused(message);
      });
    } catch (error) {
      if (!(error instanceof PromotionRefused)) throw error;
      imagesOk = false;
      refuse(`${env}: ${error.message}`);
    }
    if (source === 'dev') {
      if (chain.has(revision)) {
        if (imagesOk)
          lines.push(`ok: ${env} ${revision.slice(0, 12)} is a commit ${MAIN_BRANCH} (dev) has been at`);
      } else {
        refuse(
          `${env} ${revision} is not a commit ${MAIN_BRANCH} has been at (history of ${mainRevision}), so dev never ran it; promote dev -> ${env}`,
        );
      }
      continue;
    }
    const sourceHistory = versionsInHistory(root, main, revisionPath(source));
    const witness = sourceHistory.find((version) => targetRevisionIn(version.text) === revision);
    if (!witness) {
      refuse(
        `${env} ${revision} never ran in ${source} (history of ${mainRevision}); promote ${source} -> ${env} with the commit ${source} runs`,
      );
      continue;
    }
    const setter = versionsInHistory(root, main, revisionPath(env)).find(
      (version) => targetRevisionIn(version.text) === revision,
    );
    if (setter && (setter.commit === witness.commit || !isAncestor(root, witness.commit, setter.commit))) {
      refuse(
        `${env} ${revision} was pinned at ${setter.commit.slice(0, 12)}, not after ${source} ran it (${witness.commit.slice(0, 12)}): ${source} was skipped`,
      );
      continue;
    }
    if (imagesOk)
      lines.push(
        `ok: ${env} ${revision.slice(0, 12)} ran in ${source} (pinned at ${witness.commit.slice(0, 12)})`,
      );
  }
  return { ok, lines };
}

export interface RunningImage {
  service: Service;
  /** name@digest: what the kubelet pulls. */
  image: string;
  tag: string;
  environments: Environment[];
}

/** The images the promoted environments run according to main, one entry per digest. */
export function runningImages(root: string, mainRevision: string): RunningImage[] {
  const main = resolveCommit(root, mainRevision, '--main');
  const byImage = new Map<string, RunningImage>();
  for (const env of ENVIRONMENTS.filter((candidate) => previousEnvironment(candidate) !== undefined)) {
    const commit = runningCommit(root, main, env);
    if (commit === undefined)
      throw new PromotionRefused(`${revisionPath(env)} on ${mainRevision} pins no commit`);
    const images = imagesAt(root, commit, (message) => {
      throw new PromotionRefused(`${env}: ${message}`);
    });
    for (const service of SERVICES) {
      const release = images.get(service)!;
      const image = `${imageName(service)}@${release.digest!}`;
      const entry = byImage.get(image) ?? { service, image, tag: release.tag!, environments: [] };
      entry.environments.push(env);
      byImage.set(image, entry);
    }
  }
  return [...byImage.values()];
}

const short = (commit: string | undefined) => (commit === undefined ? '(none)' : commit.slice(0, 12));

function imageLine(change: ImageChange): string {
  const before = change.before ? imageReference(change.service, change.before) : '(unset)';
  return `${before} -> ${imageReference(change.service, change.after)}`;
}

export function describePlan(plan: PromotionPlan): string {
  if (plan.alreadyCurrent)
    return `${plan.to} already runs ${short(plan.revision)}, what ${plan.from} runs; nothing to promote\n`;
  return [
    `${plan.to}: ${short(plan.previousRevision)} -> ${plan.revision} (as in ${plan.from})`,
    ...plan.images.map((change) => `  ${imageLine(change)}`),
    ...(plan.manifestCommits.length > 0
      ? ['  manifest changes carried along:', ...plan.manifestCommits.map((line) => `    ${line}`)]
      : ['  no manifest change besides the images']),
    '',
  ].join('\n');
}

export function planAsMarkdown(plan: PromotionPlan): string {
  if (plan.alreadyCurrent)
    return `\`${plan.to}\` already runs \`${short(plan.revision)}\`, what \`${plan.from}\` runs; nothing to promote.\n`;
  const code = (text: string) => `\`${text}\``;
  return [
    `Pins \`${plan.to}\` to \`${plan.revision}\`, the commit of \`${MAIN_BRANCH}\` that \`${plan.from}\` runs. ` +
      `Only \`${revisionPath(plan.to)}\` changes; Argo CD then renders \`${plan.to}\` from that commit: its images ` +
      'and every manifest under `gitops/` and `rollouts/`.',
    '',
    `| image | ${plan.to} now | after merge (running in ${plan.from}) |`,
    '| --- | --- | --- |',
    ...plan.images.map(
      (change) =>
        `| ${code(imageName(change.service))} | ${change.before ? code(imageReference(change.service, change.before).slice(imageName(change.service).length)) : '(unset)'} | ${code(imageReference(change.service, change.after).slice(imageName(change.service).length))} |`,
    ),
    '',
    plan.manifestCommits.length > 0
      ? `Manifest changes this promotion carries (\`git log ${short(plan.previousRevision)}..${short(plan.revision)} -- ${MANIFEST_PATHS.join(' ')}\`):`
      : `No manifest change between \`${short(plan.previousRevision)}\` and \`${short(plan.revision)}\` besides the images.`,
    ...plan.manifestCommits.map(
      (line) => `- ${code(line.slice(0, line.indexOf(' ')))}${line.slice(line.indexOf(' '))}`,
    ),
    '',
  ].join('\n');
}

if (require.main === module) {
  void runCli('promote', USAGE, (argv) => {
    const options = parseOptions(argv, {
      ...valueFlags('from', 'to', 'revision', 'main', 'root'),
      digest: { type: 'string', multiple: true },
      ...switchFlags('dry-run', 'markdown', 'verify', 'running'),
    });
    const root = options.root ?? process.cwd();
    if (options.running) {
      process.stdout.write(
        `${JSON.stringify(runningImages(root, options.main ?? `origin/${MAIN_BRANCH}`))}\n`,
      );
      return;
    }
    if (options.verify) {
      const promotionFlags = ['to', 'from', 'revision', 'digest', 'dry-run', 'markdown'] as const;
      const extra = promotionFlags.filter((flag) => options[flag] !== undefined);
      if (extra.length > 0)
        throw new UsageError(
          `--verify changes nothing and takes no ${extra.map((flag) => `--${flag}`).join(', ')}`,
        );
      const check = verifyPromotionHistory(root, options.main ?? `origin/${MAIN_BRANCH}`);
      process.stdout.write(`${check.lines.join('\n')}\n`);
      if (!check.ok) process.exitCode = 1;
      return;
    }
    const plan = promote({
      root,
      from: options.from,
      to: options.to,
      revision: options.revision,
      digests: options.digest,
      main: options.main,
      dryRun: options['dry-run'],
    });
    process.stdout.write(options.markdown ? planAsMarkdown(plan) : describePlan(plan));
  });
}
