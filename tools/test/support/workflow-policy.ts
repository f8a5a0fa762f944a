// The supply-chain and delivery rules every workflow in .github/workflows must keep. Each rule returns the
// problems it finds (empty when the workflow complies), so a test can show both that the real workflows
// comply and that a broken copy of them is caught. Promotion and review rules: promotion-policy.ts; the
// workflows that install a cluster: cluster-workflow-policy.ts.
import { minimatch } from 'minimatch';
import { isPair, isScalar, parseDocument, visit, type Document } from 'yaml';

export type Json = Record<string, unknown>;

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

export const jobsOf = (workflow: Workflow) => Object.entries(workflow.data.jobs ?? {});
export const stepsOf = (job: Job) => job.steps ?? [];
export const isCheckout = (step: Step) =>
  typeof step.uses === 'string' && step.uses.startsWith('actions/checkout@');
const isTruthy = (value: unknown) => value === true || value === 'true';

export function triggers(workflow: Workflow): string[] {
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
export const runsTool = (step: Step, tool: string) =>
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

export type Env = [name: string, value: string][];

/** The `env:` a workflow and its jobs declare, as name and value. */
export function envOf(workflow: Workflow): Env {
  const entries: Env = [];
  const add = (env: unknown) => {
    if (env && typeof env === 'object')
      for (const [name, value] of Object.entries(env as Json)) entries.push([name, String(value)]);
  };
  add(workflow.data.env);
  for (const [, job] of jobsOf(workflow)) add(job.env);
  return entries;
}

export const runsOf = (workflow: Workflow) =>
  jobsOf(workflow).flatMap(([id, job]) =>
    stepsOf(job)
      .filter((step) => typeof step.run === 'string')
      .map((step) => ({
        job: id,
        name: String(step.name ?? step.run).split('\n')[0],
        run: step.run as string,
      })),
  );
