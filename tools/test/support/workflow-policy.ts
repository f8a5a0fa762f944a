// The supply-chain and delivery rules every workflow in .github/workflows must keep. Each rule returns the
// problems it finds (empty when the workflow complies), so a test can show both that the real workflows
// comply and that a broken copy of them is caught.
import { spawnSync } from 'node:child_process';
import { minimatch } from 'minimatch';
import { isPair, isScalar, parseDocument, visit, type Document } from 'yaml';
import { REPO_ROOT } from './gitops-repo';

type Json = Record<string, unknown>;

export interface Workflow {
  name: string;
  text: string;
  document: Document;
  data: Json & { on?: unknown; permissions?: unknown; jobs: Record<string, Job> };
}

export interface Job extends Json {
  permissions?: unknown;
  needs?: string | string[];
  environment?: string | { name: string };
  steps?: Step[];
  'continue-on-error'?: unknown;
}

export interface Step extends Json {
  uses?: string;
  run?: string;
  with?: Json;
  'continue-on-error'?: unknown;
}

export function parseWorkflow(name: string, text: string): Workflow {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new Error(`${name}: ${document.errors[0].message}`);
  return { name, text, document, data: document.toJS() as Workflow['data'] };
}

const jobsOf = (workflow: Workflow) => Object.entries(workflow.data.jobs ?? {});
const stepsOf = (job: Job) => job.steps ?? [];
const isCheckout = (step: Step) => typeof step.uses === 'string' && step.uses.startsWith('actions/checkout@');
const isTruthy = (value: unknown) => value === true || value === 'true';

function triggers(workflow: Workflow): string[] {
  const on = workflow.data.on;
  if (typeof on === 'string') return [on];
  if (Array.isArray(on)) return on.map(String);
  return on && typeof on === 'object' ? Object.keys(on) : [];
}

/**
 * Every action and reusable workflow is pinned to a full commit sha with its version in a comment (a tag
 * can be moved to malicious code, as trivy-action's were in March 2026); local ones (./) are this commit.
 */
export function actionsPinnedBySha(workflow: Workflow): string[] {
  const problems: string[] = [];
  visit(workflow.document, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'uses' || !isScalar(pair.value)) return;
      const uses = String(pair.value.value);
      if (uses.startsWith('./')) return;
      if (uses.startsWith('docker://')) {
        if (!/@sha256:[0-9a-f]{64}$/.test(uses))
          problems.push(`${workflow.name}: ${uses} is not pinned by digest`);
        return;
      }
      if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses)) {
        problems.push(`${workflow.name}: ${uses} is not pinned to a full 40-character commit sha`);
      } else if (!/^\s*v?\d+(\.\d+)*\b/.test(pair.value.comment ?? '')) {
        problems.push(
          `${workflow.name}: ${uses} has no version comment (# vX.Y.Z) saying which release the sha is`,
        );
      }
    },
  });
  return problems;
}

/** The token is read-only unless a job asks for more; nothing gets write-all. */
export function topLevelPermissionsReadOnly(workflow: Workflow): string[] {
  const problems: string[] = [];
  const permissions = workflow.data.permissions;
  if (JSON.stringify(permissions) !== JSON.stringify({ contents: 'read' })) {
    problems.push(
      `${workflow.name}: top-level permissions are ${JSON.stringify(permissions) ?? 'unset (the repository default, possibly write)'}, not { contents: read }`,
    );
  }
  for (const [id, job] of jobsOf(workflow)) {
    if (typeof job.permissions === 'string' && job.permissions !== 'read-all')
      problems.push(`${workflow.name}: job ${id} has permissions: ${job.permissions}`);
  }
  return problems;
}

/** pull_request_target runs with a write token and secrets: checking out the pull request's code there hands them to it. */
export function noPullRequestTargetCheckout(workflow: Workflow): string[] {
  if (!triggers(workflow).includes('pull_request_target')) return [];
  return jobsOf(workflow).flatMap(([id, job]) =>
    stepsOf(job)
      .filter(isCheckout)
      .map(() => `${workflow.name}: job ${id} checks out code in a pull_request_target workflow`),
  );
}

function grantsWrite(job: Job, scope: string): boolean {
  return (
    typeof job.permissions === 'object' &&
    job.permissions !== null &&
    (job.permissions as Json)[scope] === 'write'
  );
}

/** A job that does not push keeps no token in .git/config for later steps (or a compromised tool) to find. */
export function checkoutDropsTokenUnlessPushing(workflow: Workflow): string[] {
  return jobsOf(workflow).flatMap(([id, job]) =>
    grantsWrite(job, 'contents')
      ? []
      : stepsOf(job)
          .filter((step) => isCheckout(step) && !(step.with && step.with['persist-credentials'] === false))
          .map(
            () =>
              `${workflow.name}: job ${id} checks out without persist-credentials: false but never pushes`,
          ),
  );
}

/** GitHub's path filter: a path is selected when the last pattern that matches it is not a negation. */
export function pathFilterSelects(patterns: string[], path: string): boolean {
  let selected = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (minimatch(path, negated ? pattern.slice(1) : pattern, { dot: true })) selected = !negated;
  }
  return selected;
}

const BUMP_WRITES = ['gitops/images/kustomization.yaml'];
const runsTool = (step: Step, tool: string) =>
  typeof step.run === 'string' && new RegExp(`npm run (--silent )?${tool}\\b`).test(step.run);

/**
 * The commit release.yml pushes (the dev images) must not start release.yml again: its path filter must not
 * select the images component, whatever credential pushes it (a deploy key's push starts workflows;
 * GITHUB_TOKEN's does not). And the push is made with the deploy key or GITHUB_TOKEN, never a personal
 * access token, which would act as a person.
 */
export function releaseSkipsItsOwnCommits(workflow: Workflow): string[] {
  const problems: string[] = [];
  const push = (workflow.data.on as Json | undefined)?.push as Json | undefined;
  if (!push) return [`${workflow.name}: not triggered by push`];
  const paths = push.paths as string[] | undefined;
  const ignored = push['paths-ignore'] as string[] | undefined;
  for (const path of BUMP_WRITES) {
    const triggers = paths
      ? pathFilterSelects(paths, path)
      : ignored
        ? !pathFilterSelects(ignored, path)
        : true;
    if (triggers)
      problems.push(
        `${workflow.name}: a push that changes only ${path} (the dev bump) triggers the release again`,
      );
  }
  const bumpJobs = jobsOf(workflow).filter(([, job]) => stepsOf(job).some((step) => runsTool(step, 'bump')));
  if (bumpJobs.length === 0) problems.push(`${workflow.name}: no job runs the bump tool`);
  const allowed = /^\$\{\{\s*(github\.token|secrets\.GITHUB_TOKEN|secrets\.DEV_DEPLOY_KEY)\s*\}\}$/;
  for (const [id, job] of bumpJobs) {
    for (const step of stepsOf(job)) {
      const credentials = [
        ...(isCheckout(step) ? [step.with?.token, step.with?.['ssh-key']] : []),
        ...Object.values((step.env as Json | undefined) ?? {}),
      ].filter((value) => typeof value === 'string' && /secrets\.|github\.token/.test(value));
      for (const credential of credentials) {
        if (!allowed.test(String(credential)))
          problems.push(
            `${workflow.name}: job ${id} pushes with ${String(credential)}, whose pushes start workflows as a person; use the deploy key or GITHUB_TOKEN`,
          );
      }
    }
  }
  return problems;
}

function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : [job.needs].flat();
}

const usesTrivy = (step: Step) => step.uses?.startsWith('aquasecurity/trivy-action@') === true;
const signs = (step: Step) => typeof step.run === 'string' && /\bcosign sign\b/.test(step.run);
const installsPackages = (step: Step) =>
  typeof step.run === 'string' && /\bnpm (ci|install|i)\b/.test(step.run);

function writePermissions(job: Job): string[] {
  if (job.permissions === 'write-all') return ['write-all'];
  if (typeof job.permissions !== 'object' || job.permissions === null) return [];
  return Object.entries(job.permissions as Json)
    .filter(([, level]) => level === 'write')
    .map(([scope]) => scope);
}

/** Every job `id` waits for, directly or through the jobs it needs. */
function upstreamJobs(workflow: Workflow, id: string, seen = new Set<string>()): Set<string> {
  for (const need of needsOf(workflow.data.jobs[id] ?? {})) {
    if (seen.has(need)) continue;
    seen.add(need);
    upstreamJobs(workflow, need, seen);
  }
  return seen;
}

/** The matrix values of `key` a job runs with (empty when it has no such matrix axis). */
function matrixValues(job: Job, key: string): unknown[] {
  const matrix = (job.strategy as Json | undefined)?.matrix as Json | undefined;
  const values = matrix?.[key];
  return Array.isArray(values) ? values : [];
}

/** A Trivy step that gates: fixable HIGH and CRITICAL fail it, and nothing lets the failure pass. */
function trivyGateProblems(workflow: Workflow, id: string, job: Job): string[] {
  const problems: string[] = [];
  if (isTruthy(job['continue-on-error']))
    problems.push(`${workflow.name}: job ${id} continues on error, so a failed scan passes`);
  for (const scan of stepsOf(job).filter(usesTrivy)) {
    const settings = scan.with ?? {};
    if (String(settings['exit-code']) !== '1')
      problems.push(
        `${workflow.name}: Trivy exit-code is ${String(settings['exit-code'])}, so findings do not fail the job`,
      );
    const severities = String(settings.severity ?? '')
      .split(',')
      .map((value) => value.trim());
    for (const severity of ['HIGH', 'CRITICAL']) {
      if (!severities.includes(severity))
        problems.push(`${workflow.name}: Trivy does not fail on ${severity}`);
    }
    if (!isTruthy(settings['ignore-unfixed']))
      problems.push(
        `${workflow.name}: Trivy fails on unfixable findings too (ignore-unfixed), which nobody can act on`,
      );
    if (isTruthy(scan['continue-on-error']))
      problems.push(`${workflow.name}: the Trivy step continues on error`);
    // Both architectures the images are built for, each leg telling Trivy which one it scans.
    const platforms = matrixValues(job, 'platform');
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      if (!platforms.includes(platform))
        problems.push(`${workflow.name}: job ${id} does not scan ${platform}`);
    }
    if (
      !/^\$\{\{\s*matrix\.platform\s*\}\}$/.test(String((scan.env as Json | undefined)?.TRIVY_PLATFORM ?? ''))
    )
      problems.push(
        `${workflow.name}: job ${id} does not pass its matrix platform to Trivy (TRIVY_PLATFORM)`,
      );
    const writes = writePermissions(job);
    if (writes.length > 0)
      problems.push(
        `${workflow.name}: job ${id} runs the scanner beside ${writes.join(', ')}: write; scan in a read-only job`,
      );
  }
  return problems;
}

/**
 * release.yml: the Trivy scan gates the release in a job of its own (both architectures, read-only), the
 * signature comes after it in a job that runs no scanner and no npm, the OIDC token exists only there, and
 * dev is bumped only after both. The scan reads the digest the build reported, never the tag.
 */
export function scanIsolatedFromSigning(workflow: Workflow): string[] {
  const problems: string[] = [];
  const jobs = jobsOf(workflow);
  const scanJobs = jobs.filter(([, job]) => stepsOf(job).some(usesTrivy));
  const signJobs = jobs.filter(([, job]) => stepsOf(job).some(signs));
  if (scanJobs.length === 0) return [`${workflow.name}: no Trivy scan`];
  if (signJobs.length === 0) problems.push(`${workflow.name}: no job signs the images`);
  for (const [id, job] of scanJobs) {
    problems.push(...trivyGateProblems(workflow, id, job));
    if (stepsOf(job).some(signs)) problems.push(`${workflow.name}: job ${id} scans and signs in one job`);
    for (const scan of stepsOf(job).filter(usesTrivy)) {
      if (!/@\$\{\{\s*needs\./.test(String(scan.with?.['image-ref'] ?? '')))
        problems.push(
          `${workflow.name}: job ${id} scans ${String(scan.with?.['image-ref'])}, not the digest the build reported`,
        );
    }
  }
  for (const [id, job] of jobs) {
    if (writePermissions(job).includes('id-token') && !stepsOf(job).some(signs))
      problems.push(`${workflow.name}: job ${id} holds id-token: write but does not sign`);
  }
  for (const [id, job] of signJobs) {
    const upstream = upstreamJobs(workflow, id);
    for (const [scanId] of scanJobs) {
      if (!upstream.has(scanId))
        problems.push(`${workflow.name}: job ${id} signs without waiting for the scan in ${scanId}`);
    }
    if (stepsOf(job).some(installsPackages))
      problems.push(`${workflow.name}: job ${id} installs npm packages beside id-token: write`);
  }
  const bumpJobs = jobs.filter(([, job]) => stepsOf(job).some((step) => runsTool(step, 'bump')));
  for (const [bumpId] of bumpJobs) {
    const upstream = upstreamJobs(workflow, bumpId);
    for (const [gateId] of [...scanJobs, ...signJobs]) {
      if (!upstream.has(gateId))
        problems.push(`${workflow.name}: job ${bumpId} bumps dev without waiting for ${gateId}`);
    }
  }
  return problems;
}

/**
 * A job that installs npm packages keeps no credential on disk (the checkout token is not persisted), and
 * where the job holds any credential (a write permission, a secret, the token in a step's environment) the
 * packages' install scripts are off: ~700 third-party lifecycle scripts never run beside a key that can push.
 */
export function noCredentialsWhileInstalling(workflow: Workflow): string[] {
  const problems: string[] = [];
  for (const [id, job] of jobsOf(workflow)) {
    const steps = stepsOf(job);
    if (!steps.some(installsPackages)) continue;
    for (const step of steps.filter(isCheckout)) {
      if (!(step.with && step.with['persist-credentials'] === false))
        problems.push(
          `${workflow.name}: job ${id} installs npm packages with the checkout token persisted in .git/config`,
        );
    }
    const holdsCredential =
      writePermissions(job).length > 0 ||
      steps.some((step) =>
        Object.values((step.env as Json | undefined) ?? {}).some((value) =>
          /secrets\.|github\.token/.test(String(value)),
        ),
      );
    if (!holdsCredential) continue;
    for (const step of steps.filter(installsPackages)) {
      if (!/--ignore-scripts\b/.test(String(step.run)))
        problems.push(
          `${workflow.name}: job ${id} runs "${String(step.run).trim()}" with install scripts on in a job that holds credentials`,
        );
    }
  }
  return problems;
}

/** Evaluates a GitHub Actions expression with GitHub's own evaluator (@actions/expressions, an ES module). */
export function evaluateExpression(expression: string, contexts: Json): string {
  const script = `
    import { Lexer, Parser, Evaluator, data } from '@actions/expressions';
    const [expression, contexts] = JSON.parse(process.argv[1]);
    const tree = new Parser(new Lexer(expression).lex().tokens, Object.keys(contexts), []).parse();
    process.stdout.write(new Evaluator(tree, JSON.parse(JSON.stringify(contexts), data.reviver)).evaluate().coerceString());`;
  const result = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify([expression, contexts])],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`cannot evaluate ${expression}: ${result.stderr}`);
  return result.stdout;
}

/** A value as the runner sees it: `${{ expr }}` evaluated, a plain string as it is. */
function resolve(value: string, contexts: Json): string {
  const whole = value.match(/^\$\{\{([\s\S]*)\}\}$/);
  return whole ? evaluateExpression(whole[1].trim(), contexts) : value;
}

/**
 * A promotion to prod runs in the protected `production` environment (required reviewers approve the run),
 * and the pull request it opens needs the code owners of gitops/envs/prod/.
 */
export function prodPromotionProtected(workflow: Workflow, codeowners: string): string[] {
  const problems: string[] = [];
  const promoteJobs = jobsOf(workflow).filter(([, job]) =>
    stepsOf(job).some((step) => runsTool(step, 'promote')),
  );
  if (promoteJobs.length === 0) return [`${workflow.name}: no job runs the promote tool`];
  const contexts = {
    inputs: { target: 'prod' },
    github: { event_name: 'workflow_dispatch', ref: 'refs/heads/main' },
  };
  for (const [id, job] of promoteJobs) {
    const environment = typeof job.environment === 'object' ? job.environment.name : job.environment;
    const resolved = environment === undefined ? undefined : resolve(String(environment), contexts);
    if (resolved !== 'production') {
      problems.push(
        `${workflow.name}: job ${id} promotes to prod in environment "${resolved ?? '(none)'}", not the protected "production"`,
      );
    }
  }
  if (codeownersOf(codeowners, 'gitops/envs/prod/revision.yaml').length === 0)
    problems.push('CODEOWNERS names no owner for gitops/envs/prod/: a prod pull request needs no review');
  return problems;
}

/**
 * The owners GitHub asks for a change to `path`: the last matching CODEOWNERS pattern wins. A pattern with
 * a leading slash is anchored at the root, one with a trailing slash is a directory, one without a slash
 * matches at any depth (gitignore rules).
 */
export function codeownersOf(codeowners: string, path: string): string[] {
  const rules = codeowners
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(/\s+/));
  const matches = rules.filter(([pattern]) => {
    let glob = pattern.endsWith('/') ? `${pattern}**` : pattern;
    glob = glob.startsWith('/') ? glob.slice(1) : glob.includes('/') ? glob : `**/${glob}`;
    return minimatch(path, glob, { dot: true });
  });
  return matches.pop()?.slice(1) ?? [];
}

/** What runs with the pipeline's credentials needs a code owner's review: workflows, tools, manifests of npm. */
export function codeownersCoverPipeline(codeowners: string): string[] {
  return [
    '.github/workflows/release.yml',
    '.github/CODEOWNERS',
    'tools/promote/main.ts',
    'tools/lib/gitops.ts',
    'package.json',
    'package-lock.json',
    'services/api/package.json',
  ]
    .filter((path) => codeownersOf(codeowners, path).length === 0)
    .map((path) => `CODEOWNERS names no owner for ${path}, which runs with the pipeline's credentials`);
}

/**
 * The promotion rule is checked on every trigger (pull request, push, manual run on a branch) against
 * origin/main's history, with the whole history fetched: never HEAD^1, which a branch's author controls.
 */
export function promotionHistoryOnEveryTrigger(workflow: Workflow): string[] {
  const problems: string[] = [];
  for (const trigger of ['pull_request', 'push', 'workflow_dispatch']) {
    if (!triggers(workflow).includes(trigger)) problems.push(`${workflow.name}: does not run on ${trigger}`);
  }
  const verifying = jobsOf(workflow).filter(([, job]) =>
    stepsOf(job).some(
      (step) => typeof step.run === 'string' && /npm run (--silent )?promote -- --verify\b/.test(step.run),
    ),
  );
  if (verifying.length === 0) return [...problems, `${workflow.name}: no job runs "promote -- --verify"`];
  for (const [id, job] of verifying) {
    if (job.if !== undefined)
      problems.push(`${workflow.name}: job ${id} verifies promotions only when ${String(job.if)}`);
    for (const step of stepsOf(job)) {
      if (
        typeof step.run === 'string' &&
        /promote -- --verify\b/.test(step.run) &&
        !/--verify --main origin\/main\b/.test(step.run)
      )
        problems.push(
          `${workflow.name}: job ${id} verifies against "${step.run.trim()}", not --main origin/main`,
        );
      if (isCheckout(step) && String(step.with?.['fetch-depth']) !== '0')
        problems.push(`${workflow.name}: job ${id} checks out without the whole history (fetch-depth: 0)`);
    }
  }
  return problems;
}

/**
 * One branch per target: each promotion force-pushes promote/<target> and rewrites the open pull request,
 * and closes it when there is nothing left to promote, so an older promotion can never merge after a newer.
 */
export function onePromotionBranchPerTarget(workflow: Workflow): string[] {
  const steps = jobsOf(workflow).flatMap(([, job]) =>
    stepsOf(job).filter((step) => runsTool(step, 'promote')),
  );
  if (steps.length === 0) return [`${workflow.name}: no step runs the promote tool`];
  const script = steps.map((step) => String(step.run)).join('\n');
  const problems: string[] = [];
  if (!/^\s*branch="promote\/\$TARGET"\s*$/m.test(script))
    problems.push(
      `${workflow.name}: the promotion branch is not exactly promote/$TARGET: promotions pile up side by side`,
    );
  if (!/\bpush\b[^\n]*--force\b/.test(script))
    problems.push(
      `${workflow.name}: the promotion branch is not force-pushed, so a newer promotion cannot replace it`,
    );
  if (!/\bgh pr edit\b/.test(script))
    problems.push(`${workflow.name}: an open promotion pull request is not updated by a newer promotion`);
  if (!/\bgh pr close\b/.test(script))
    problems.push(
      `${workflow.name}: an open promotion pull request stays open when nothing is left to promote`,
    );
  return problems;
}

/**
 * rescan.yml: every day, the digests staging and prod run (as promote --running reads them from main) are
 * scanned on both architectures by a read-only job; a finding fails the run and opens or updates an issue.
 */
export function rescanCoversRunningDigests(workflow: Workflow): string[] {
  const problems: string[] = [];
  const schedule = (workflow.data.on as Json | undefined)?.schedule;
  if (!Array.isArray(schedule) || schedule.length === 0) problems.push(`${workflow.name}: has no schedule`);
  const jobs = jobsOf(workflow);
  if (
    !jobs.some(([, job]) =>
      stepsOf(job).some(
        (step) => typeof step.run === 'string' && /promote -- --running --main origin\/main\b/.test(step.run),
      ),
    )
  )
    problems.push(
      `${workflow.name}: does not read the running digests from main (promote -- --running --main origin/main)`,
    );
  const scanJobs = jobs.filter(([, job]) => stepsOf(job).some(usesTrivy));
  if (scanJobs.length === 0) problems.push(`${workflow.name}: no Trivy scan`);
  for (const [id, job] of scanJobs) problems.push(...trivyGateProblems(workflow, id, job));
  const reporters = jobs.filter(
    ([, job]) =>
      /\bfailure\(\)/.test(String(job.if ?? '')) &&
      stepsOf(job).some(
        (step) => typeof step.run === 'string' && /\bgh issue (create|comment)\b/.test(step.run),
      ),
  );
  if (reporters.length === 0)
    problems.push(
      `${workflow.name}: a failed scan opens no issue (a job with if: failure() running gh issue)`,
    );
  for (const [id, job] of reporters) {
    const upstream = upstreamJobs(workflow, id);
    for (const [scanId] of scanJobs)
      if (!upstream.has(scanId)) problems.push(`${workflow.name}: job ${id} does not wait for ${scanId}`);
    if (writePermissions(job).join() !== 'issues')
      problems.push(`${workflow.name}: job ${id} should hold issues: write and nothing else`);
  }
  return problems;
}

/** Every Dependabot update waits before proposing a new version (cooldown), so a bad release is usually pulled first. */
export function dependabotCooldown(config: { updates: Json[] }): string[] {
  return config.updates
    .filter((update) => !(Number((update.cooldown as Json | undefined)?.['default-days']) >= 1))
    .map(
      (update) =>
        `dependabot: the ${String(update['package-ecosystem'])} updates have no cooldown.default-days`,
    );
}

/** Only main is released: a manual run on another branch must not sign or deploy an unreviewed commit. */
export function releaseOnlyFromMain(workflow: Workflow): string[] {
  const push = (workflow.data.on as Json | undefined)?.push as Json | undefined;
  const problems: string[] = [];
  if (JSON.stringify(push?.branches) !== JSON.stringify(['main']))
    problems.push(`${workflow.name}: push trigger is not limited to main`);
  for (const [id, job] of jobsOf(workflow)) {
    if (needsOf(job).length > 0) continue; // runs only after a job that is itself guarded
    if (!/github\.ref\s*==\s*'refs\/heads\/main'/.test(String(job.if ?? ''))) {
      problems.push(
        `${workflow.name}: job ${id} can run on any branch (workflow_dispatch); guard it with github.ref == 'refs/heads/main'`,
      );
    }
  }
  return problems;
}

type Env = [name: string, value: string][];

/** The `env:` a workflow and its jobs declare, as name and value. */
function envOf(workflow: Workflow): Env {
  const entries: Env = [];
  const add = (env: unknown) => {
    if (env && typeof env === 'object')
      for (const [name, value] of Object.entries(env as Json)) entries.push([name, String(value)]);
  };
  add(workflow.data.env);
  for (const [, job] of jobsOf(workflow)) add(job.env);
  return entries;
}

const runsOf = (workflow: Workflow) =>
  jobsOf(workflow).flatMap(([id, job]) =>
    stepsOf(job)
      .filter((step) => typeof step.run === 'string')
      .map((step) => ({
        job: id,
        name: String(step.name ?? step.run).split('\n')[0],
        run: step.run as string,
      })),
  );

const PIN_SHAPES: [suffix: string, shape: RegExp, what: string][] = [
  ['_VERSION', /^v?\d+\.\d+\.\d+$/, 'an exact x.y.z version'],
  ['_IMAGE', /^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/, 'an image by tag and digest'],
  ['_COMMIT', /^[0-9a-f]{40}$/, 'a full commit sha'],
  ['_SHA256', /^[0-9a-f]{64}$/, 'a sha256 checksum'],
];

/**
 * What a workflow installs from outside is pinned exactly, once, in `env:` (where pinsMatchLedger holds it to
 * the upstream ledger): versions x.y.z, images by digest, git sources by commit, downloads by checksum; no
 * `latest` anywhere, no `go install` of a branch, no OCI chart without its version.
 */
export function toolPinsExact(workflow: Workflow): string[] {
  const problems: string[] = [];
  const env = new Map(envOf(workflow));
  for (const [name, value] of env) {
    for (const [suffix, shape, what] of PIN_SHAPES) {
      if (name.endsWith(suffix) && !shape.test(value))
        problems.push(`${workflow.name}: ${name} is "${value}", not ${what}`);
    }
  }
  if (/(@|:\s*|--version[ =]|\/)latest\b/.test(workflow.text))
    problems.push(`${workflow.name}: pins something to "latest"`);
  /** A reference is pinned when it is literally of the shape, or names an env variable of that shape. */
  const pinned = (reference: string, shape: RegExp) => {
    const variable = /^\$\{?(\w+)\}?$/.exec(reference) ?? /^\$\{\{\s*env\.(\w+)\s*\}\}$/.exec(reference);
    return variable ? shape.test(env.get(variable[1]) ?? '') : shape.test(reference);
  };
  for (const { job, name, run } of runsOf(workflow)) {
    const where = `${workflow.name}: job ${job}, step "${name}"`;
    if (/\b(curl|wget)\b[^\n]*https?:\/\//.test(run) && !/sha256sum -c/.test(run))
      problems.push(`${where} downloads without checking a pinned sha256 (sha256sum -c)`);
    for (const [, reference] of run.matchAll(/\bgo install\s+"?[\w./-]+@([^\s"]+)/g)) {
      if (!pinned(reference, PIN_SHAPES[0][1]))
        problems.push(`${where} go installs @${reference}, not a pinned version`);
    }
    for (const line of run
      .split('\n')
      .filter((text) => /\bhelm\s+(install|upgrade|template)\b[^\n]*oci:\/\//.test(text))) {
      const version = /--version[ =]"?([^\s"]+)/.exec(line);
      if (!version || !pinned(version[1], PIN_SHAPES[0][1]))
        problems.push(`${where} installs an OCI chart without a pinned --version`);
    }
    for (const [, reference] of run.matchAll(
      /raw\.githubusercontent\.com\/[\w.-]+\/[\w.-]+\/([^/\s"]+)\//g,
    )) {
      if (!pinned(reference, PIN_SHAPES[2][1]))
        problems.push(`${where} reads raw.githubusercontent.com at ${reference}, not a commit`);
    }
    for (const [, reference] of run.matchAll(/github\.com\/[^\s"]*\?ref=([^\s"&]+)/g)) {
      if (!pinned(reference, PIN_SHAPES[2][1]))
        problems.push(`${where} reads a GitHub kustomization at ${reference}, not a commit`);
    }
  }
  return problems;
}

/** Least privilege for jobs that only read: no job of the workflow asks for any write permission. */
export function jobsReadOnly(workflow: Workflow): string[] {
  return jobsOf(workflow).flatMap(([id, job]) => {
    const permissions = job.permissions;
    if (permissions === undefined || permissions === 'read-all') return [];
    if (typeof permissions === 'string')
      return [`${workflow.name}: job ${id} has permissions: ${permissions}`];
    return Object.entries(permissions as Json)
      .filter(([, level]) => level === 'write')
      .map(([scope]) => `${workflow.name}: job ${id} asks for ${scope}: write, but only reads`);
  });
}

/** The `kubectl apply` lines of docs/gitops.md's Bootstrap section that name a path of this repository. */
export function bootstrapApplies(gitopsDoc: string): string[] {
  const start = gitopsDoc.indexOf('\n## Bootstrap');
  const section = gitopsDoc.slice(start, gitopsDoc.indexOf('\n## ', start + 1));
  return [
    ...new Set(
      section
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => /^kubectl apply\b/.test(line) && OWN_TREE.test(line)),
    ),
  ];
}

const OWN_TREE = /(^|[\s=])(\.\/)?(gitops|argocd|observability|rollouts)\//;

/**
 * The e2e takes the adopter's path: it applies of this repository exactly what docs/gitops.md's Bootstrap tells
 * an adopter to apply (Argo CD from argocd/install, then root.yaml), each once, and nothing else; Argo CD
 * installs everything else from git. Applying an overlay or a platform chart by hand would bypass exactly what
 * the e2e exists to test (waves, health checks, selfHeal beside the canary plugin).
 */
export function e2eFollowsBootstrap(
  workflow: Workflow,
  documented: string[],
  platformCharts: string[],
): string[] {
  const problems: string[] = [];
  if (documented.length === 0)
    return ['docs/gitops.md documents no kubectl apply of this repository in Bootstrap'];
  const lines = runsOf(workflow).flatMap(({ job, name, run }) =>
    run
      .split('\n')
      .map((line) => ({ where: `${workflow.name}: job ${job}, step "${name}"`, line: line.trim() })),
  );
  for (const command of documented) {
    const count = lines.filter(({ line }) => line === command).length;
    if (count !== 1)
      problems.push(
        `${workflow.name}: runs "${command}" (docs/gitops.md, Bootstrap) ${count} times, not once`,
      );
  }
  for (const { where, line } of lines) {
    if (documented.includes(line)) continue;
    const applies =
      /\bkubectl\s+(apply|create|replace)\b/.test(line) && /\s(-f|-k|--filename|--kustomize)\b/.test(line);
    const rendersOwn =
      /\bkubectl\s+kustomize\b/.test(line) && OWN_TREE.test(line.replace(/.*kubectl\s+kustomize/, ' '));
    if ((applies && OWN_TREE.test(line)) || (rendersOwn && /\|\s*kubectl\s+apply\b/.test(line)))
      problems.push(`${where} applies this repository's tree by hand: ${line}`);
    const helm = /\bhelm\s+(install|upgrade)\b(.*)/.exec(line);
    if (helm && platformCharts.some((chart) => new RegExp(`(^|[\\s/])${chart}(\\s|$)`).test(helm[2])))
      problems.push(`${where} installs a platform chart Argo CD owns: ${line}`);
  }
  return problems;
}

export interface LedgerPins {
  tools: Record<string, { version: string }>;
  images: Record<string, { image: string; tag: string }>;
  behaviour(id: string): { data?: Record<string, unknown> };
}

/** Each pinned version, digest, commit and checksum in `env:` is the one the upstream ledger records (section e2e). */
export function pinsMatchLedger(workflow: Workflow, ledger: LedgerPins): string[] {
  const node = ledger.images['kind-node'];
  const registry = ledger.images.registry;
  const commits = ledger.behaviour('release-commits').data ?? {};
  const expected: Record<string, string | undefined> = {
    KIND_VERSION: ledger.tools.kind?.version,
    GO_VERSION: ledger.tools.go?.version,
    KIND_NODE_IMAGE: node && `${node.image}:${node.tag}`,
    REGISTRY_IMAGE: registry && `${registry.image}:${registry.tag}`,
    KUBERNETES_VERSION: node?.tag.split('@')[0].replace(/^v/, ''),
    HELM_VERSION: ledger.tools.helm?.version,
    HELM_SHA256: String(ledger.behaviour('helm-release-checksum').data?.sha256),
    KUBECONFORM_VERSION: ledger.tools.kubeconform?.version,
    GATEWAY_API_VERSION: ledger.tools['gateway-api']?.version,
    GATEWAY_API_COMMIT: commits['gateway-api'] as string | undefined,
    ENVOY_GATEWAY_VERSION: ledger.tools['envoy-gateway']?.version,
  };
  return envOf(workflow).flatMap(([name, value]) => {
    if (!PIN_SHAPES.some(([suffix]) => name.endsWith(suffix))) return [];
    if (!(name in expected))
      return [`${workflow.name}: ${name} is pinned here but not recorded in the upstream ledger`];
    return value === expected[name]
      ? []
      : [`${workflow.name}: ${name} is ${value}, the upstream ledger records ${expected[name]}`];
  });
}

/** The flags `npm run bump` accepts, read from its `parseOptions` call in tools/bump/main.ts. */
export function bumpFlags(bumpSource: string): string[] {
  const options = /parseOptions\(argv, \{([\s\S]*?)\n\s*\}\);/.exec(bumpSource);
  if (!options) throw new Error('tools/bump/main.ts: no parseOptions(argv, { ... }) call found');
  return [...options[1].matchAll(/^\s*'?([\w-]+)'?: \{ type:/gm)].map((match) => `--${match[1]}`);
}

/**
 * Every `npm run bump` a workflow runs uses only flags bump has and names the image by digest (--service,
 * --tag and --digest): the e2e was once left calling a `--env` bump no longer had, which only a cluster run
 * would have shown.
 */
export function bumpCallsMatchCli(workflow: Workflow, flags: string[]): string[] {
  const required = ['--service', '--tag', '--digest'];
  return runsOf(workflow).flatMap(({ job, name, run }) =>
    [...run.matchAll(/npm run(?: --silent)? bump --([^\n&|;]*)/g)].flatMap(([call, args]) => {
      const used = [...args.matchAll(/(?:^|\s)(--[\w-]+)/g)].map((match) => match[1]);
      const where = `${workflow.name}: job ${job}, step "${name}": ${call.trim()}`;
      return [
        ...used.filter((flag) => !flags.includes(flag)).map((flag) => `${where}: bump has no ${flag}`),
        ...required.filter((flag) => !used.includes(flag)).map((flag) => `${where}: without ${flag}`),
      ];
    }),
  );
}
