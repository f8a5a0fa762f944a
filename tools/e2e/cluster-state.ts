// What the e2e concludes from `kubectl get -o json`: each function takes the objects as the API server returns
// them (Argo CD Application, Argo Rollouts Rollout and AnalysisRun, Gateway API HTTPRoute, Prometheus' and
// Alertmanager's HTTP answers) and says what is wrong, so the waiting loops in e2e.ts stay thin and these
// decisions are unit-tested here on recorded outputs (tools/e2e/fixtures).

type Json = Record<string, unknown>;

export interface Application {
  metadata: { name: string };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string; syncResult?: { revision?: string } };
    conditions?: { type: string; message?: string }[];
  };
}

export interface Rollout {
  metadata: { name: string; generation?: number };
  spec: { strategy?: { canary?: { steps?: Json[] } } };
  status?: {
    phase?: string;
    abort?: boolean;
    message?: string;
    currentStepIndex?: number;
    currentPodHash?: string;
    stableRS?: string;
    observedGeneration?: string;
    pauseConditions?: { reason: string; startTime?: string }[];
    canary?: { weights?: { canary?: { weight?: number; podTemplateHash?: string } } };
  };
}

export interface HttpRoute {
  spec: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
}

export interface AnalysisRun {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    phase?: string;
    message?: string;
    metricResults?: { name: string; phase?: string; measurements?: { phase?: string; value?: string }[] }[];
  };
}

/** Applications not yet Synced and Healthy, each with why (sync, health, and the last operation's message). */
export function applicationsNotReady(applications: Application[]): string[] {
  return applications.flatMap((application) => {
    const sync = application.status?.sync?.status ?? 'Unknown';
    const health = application.status?.health?.status ?? 'Unknown';
    if (sync === 'Synced' && health === 'Healthy') return [];
    const details = [
      application.status?.operationState?.phase && application.status.operationState.message
        ? `last sync ${application.status.operationState.phase}: ${application.status.operationState.message}`
        : undefined,
      application.status?.health?.message,
      ...(application.status?.conditions ?? []).map((condition) => `${condition.type}: ${condition.message}`),
    ].filter(Boolean);
    return [
      `${application.metadata.name}: ${sync}/${health}${details.length ? ` (${details.join('; ')})` : ''}`,
    ];
  });
}

/** The Application has synced the given commit: compared with it, and its last sync operation applied it. */
export function syncedTo(application: Application, revision: string): boolean {
  const status = application.status;
  return (
    status?.sync?.status === 'Synced' &&
    status.sync.revision === revision &&
    status.operationState?.phase === 'Succeeded' &&
    status.operationState.syncResult?.revision === revision
  );
}

/** The weights the canary steps ask for, in order (what the HTTPRoute should show during the release). */
export function plannedCanaryWeights(rollout: Rollout): number[] {
  return (rollout.spec.strategy?.canary?.steps ?? [])
    .map((step) => step.setWeight)
    .filter((weight): weight is number => typeof weight === 'number');
}

/** The weight the HTTPRoute gives the canary Service (the plugin's edit), or undefined if it names none. */
export function canaryWeight(route: HttpRoute, canaryService: string): number | undefined {
  for (const rule of route.spec.rules ?? []) {
    const backend = (rule.backendRefs ?? []).find((ref) => ref.name === canaryService);
    if (backend) return backend.weight ?? 1; // Gateway API: an omitted weight is 1
  }
  return undefined;
}

/** One look at the release: the Rollout, the route and the env Application at the same moment. */
export interface Sample {
  stepIndex: number | undefined;
  phase: string;
  aborted: boolean;
  paused: boolean;
  stableHash: string | undefined;
  currentHash: string | undefined;
  routeWeight: number | undefined;
  applicationSync: string;
  applicationRevision: string | undefined;
  /** The commit the env Application must be Synced at; undefined while a commit made mid-release syncs. */
  expectedRevision: string | undefined;
}

export function sample(
  rollout: Rollout,
  route: HttpRoute,
  canaryService: string,
  application: Application,
  expectedRevision: string | undefined,
): Sample {
  const status = rollout.status ?? {};
  return {
    stepIndex: status.currentStepIndex,
    phase: status.phase ?? 'Unknown',
    aborted: status.abort === true,
    paused: (status.pauseConditions ?? []).length > 0,
    stableHash: status.stableRS,
    currentHash: status.currentPodHash,
    routeWeight: canaryWeight(route, canaryService),
    applicationSync: application.status?.sync?.status ?? 'Unknown',
    applicationRevision: application.status?.sync?.revision,
    expectedRevision,
  };
}

export type Outcome = 'completed' | 'aborted' | 'in progress';

/** Where a release stands, judged against the stable hash from before it started. */
export function outcome(current: Sample, stableBefore: string): Outcome {
  if (current.aborted) return 'aborted';
  if (
    current.phase === 'Healthy' &&
    current.stableHash !== undefined &&
    current.stableHash === current.currentHash &&
    current.stableHash !== stableBefore
  )
    return 'completed';
  return 'in progress';
}

/** The distinct non-zero canary weights the route showed, in the order they appeared. */
export function observedWeights(samples: Sample[]): number[] {
  const seen: number[] = [];
  for (const { routeWeight } of samples) {
    if (routeWeight !== undefined && routeWeight > 0 && seen[seen.length - 1] !== routeWeight)
      seen.push(routeWeight);
  }
  return seen;
}

/**
 * A good release: it completed, the route carried every planned weight in order and never fell back to 0
 * before the end (which is what Argo CD's selfHeal reverting the plugin's edit looks like), and the env
 * Application stayed Synced at the release commit from its first canary step to the end.
 */
export function assessGoodRelease(samples: Sample[], planned: number[], stableBefore: string): string[] {
  const problems: string[] = [];
  const last = samples[samples.length - 1];
  if (!last || outcome(last, stableBefore) !== 'completed')
    problems.push(`the release did not complete (last: ${last ? describe(last) : 'no sample'})`);
  const canaryPlanned = planned.filter((weight) => weight > 0 && weight < 100);
  const seen = observedWeights(samples);
  const seenPlanned = seen.filter((weight) => weight < 100);
  if (JSON.stringify(seenPlanned) !== JSON.stringify(canaryPlanned))
    problems.push(
      `the route showed canary weights ${JSON.stringify(seen)}, the steps plan ${JSON.stringify(planned)}`,
    );
  const firstCanary = samples.findIndex((s) => (s.routeWeight ?? 0) > 0);
  const lastCanary = samples.map((s) => (s.routeWeight ?? 0) > 0).lastIndexOf(true);
  if (firstCanary >= 0) {
    // Between two samples with canary traffic the weight is never 0 in a good release: 0 there means
    // something (Argo CD's selfHeal) reverted the plugin's edit.
    for (const [index, s] of samples.slice(firstCanary, lastCanary + 1).entries()) {
      if (s.routeWeight === 0)
        problems.push(
          `the canary weight fell back to 0 at step ${s.stepIndex} (sample ${firstCanary + index}): something reverted the plugin`,
        );
    }
    for (const s of samples.slice(firstCanary)) {
      if (s.expectedRevision === undefined) continue;
      if (s.applicationSync !== 'Synced' || s.applicationRevision !== s.expectedRevision) {
        problems.push(
          `the env Application was ${s.applicationSync} at ${s.applicationRevision ?? 'no revision'} during the canary (step ${s.stepIndex}, weight ${s.routeWeight}), not Synced at ${s.expectedRevision}`,
        );
        break;
      }
    }
  }
  return problems;
}

/** A bad release: aborted by the controller (nobody aborts it in the e2e), stable unchanged, route back to 0. */
export function assessBadRelease(samples: Sample[], stableBefore: string): string[] {
  const problems: string[] = [];
  const last = samples[samples.length - 1];
  if (!last) return ['no sample of the release'];
  if (samples.some((s) => outcome(s, stableBefore) === 'completed'))
    problems.push('the bad release was promoted');
  if (!last.aborted) problems.push(`the bad release was not aborted (last: ${describe(last)})`);
  if (last.stableHash !== stableBefore)
    problems.push(`stable moved from ${stableBefore} to ${last.stableHash}`);
  if (last.routeWeight !== 0)
    problems.push(`the canary backend still has weight ${last.routeWeight} after the abort`);
  if (!samples.some((s) => (s.routeWeight ?? 0) > 0))
    problems.push('the canary never received traffic, so the abort was not decided on its measurements');
  return problems;
}

export function describe(s: Sample): string {
  return `phase=${s.phase} step=${s.stepIndex ?? '-'} weight=${s.routeWeight ?? '-'} aborted=${s.aborted} paused=${s.paused} stable=${s.stableHash ?? '-'} current=${s.currentHash ?? '-'} app=${s.applicationSync}@${(s.applicationRevision ?? '-').slice(0, 12)}`;
}

/**
 * The AnalysisRun decided on data: it succeeded (or failed, for a bad release) and every metric has
 * measurements whose value is not Prometheus' empty result, i.e. the query found the canary's series.
 */
export function analysisRunMeasured(run: AnalysisRun, expectedPhase: 'Successful' | 'Failed'): string[] {
  const problems: string[] = [];
  const phase = run.status?.phase;
  if (phase !== expectedPhase)
    problems.push(
      `${run.metadata.name} is ${phase ?? 'without a phase'}, expected ${expectedPhase}${run.status?.message ? `: ${run.status.message}` : ''}`,
    );
  const results = run.status?.metricResults ?? [];
  if (results.length === 0) problems.push(`${run.metadata.name} has no metric results`);
  for (const metric of results) {
    const measured = (metric.measurements ?? []).filter(
      (m) => m.value !== undefined && m.value !== '' && m.value !== '[]' && !/\bNaN\b/.test(m.value),
    );
    if (measured.length === 0)
      problems.push(
        `${run.metadata.name}: metric ${metric.name} has no measurement with a value (the query found no canary series)`,
      );
  }
  return problems;
}

interface PrometheusAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] };
}

/** A Prometheus instant query answered a vector with at least one number in it (not an empty result). */
export function prometheusHasValue(answer: PrometheusAnswer): string[] {
  if (answer.status !== 'success')
    return [`Prometheus answered ${answer.status ?? 'nothing'}: ${answer.error ?? ''}`];
  const result = answer.data?.result ?? [];
  if (result.length === 0) return ['the query returned an empty result'];
  if (!result.some((series) => series.value && Number.isFinite(Number(series.value[1]))))
    return ['the query returned no finite value'];
  return [];
}

/** The config Alertmanager runs (GET /api/v2/status, config.original) routes like ours: the same receivers. */
export function alertmanagerRunsConfig(
  status: { config?: { original?: string } },
  receivers: string[],
): string[] {
  const original = status.config?.original ?? '';
  const missing = receivers.filter(
    (name) => !new RegExp(`^\\s*- name: ['"]?${name}['"]?\\s*$`, 'm').test(original),
  );
  return missing.length === 0
    ? []
    : [`the running Alertmanager config has no receiver ${missing.join(', ')}: it is not ours`];
}

/** A notification arrived at the receiver's endpoint and names the test alert (Slack and webhook payloads). */
export function notificationReached(
  received: { path: string; body: string }[],
  path: string,
  alertname: string,
): string[] {
  const atPath = received.filter((request) => request.path === path);
  if (atPath.length === 0)
    return [
      `no notification reached ${path}; received at: ${[...new Set(received.map((r) => r.path))].join(', ') || 'nothing'}`,
    ];
  return atPath.some((request) => request.body.includes(alertname))
    ? []
    : [`the notifications at ${path} do not mention ${alertname}`];
}

/**
 * Follows one release sample by sample, and, with a pause hook, the commit made while the canary waits at a
 * pause: `observe` says when to run the hook (the first sample paused with canary traffic) and when the release
 * is over; while the hook's commit syncs, the env Application may be OutOfSync; once it has synced, it must stay
 * Synced at that commit. The commit must sync before the canary ends, or nothing was proven.
 */
export class ReleaseWatch {
  readonly samples: Sample[] = [];
  private expectedRevision: string | undefined;
  private hookRevision: string | undefined;
  private hookSyncedDuringCanary = false;

  constructor(
    private readonly stableBefore: string,
    revision: string,
    private readonly withPauseHook: boolean,
  ) {
    this.expectedRevision = revision;
  }

  observe(
    rollout: Rollout,
    route: HttpRoute,
    canaryService: string,
    application: Application,
  ): 'run hook' | 'done' | 'continue' {
    const current = sample(rollout, route, canaryService, application, this.expectedRevision);
    this.samples.push(current);
    const inProgress = outcome(current, this.stableBefore) === 'in progress';
    if (
      this.hookRevision &&
      this.expectedRevision === undefined &&
      syncedTo(application, this.hookRevision)
    ) {
      this.hookSyncedDuringCanary = inProgress;
      this.expectedRevision = this.hookRevision;
    }
    if (!inProgress) return 'done';
    if (
      this.withPauseHook &&
      this.hookRevision === undefined &&
      current.paused &&
      (current.routeWeight ?? 0) > 0
    )
      return 'run hook';
    return 'continue';
  }

  /** The hook committed `revision`: from now on the env Application may lag until it has synced it. */
  hookCommitted(revision: string) {
    this.hookRevision = revision;
    this.expectedRevision = undefined;
  }

  problems(expect: 'completed' | 'aborted', planned: number[]): string[] {
    const problems =
      expect === 'completed'
        ? assessGoodRelease(this.samples, planned, this.stableBefore)
        : assessBadRelease(this.samples, this.stableBefore);
    if (this.withPauseHook && !this.hookRevision)
      problems.push('the canary never paused with traffic, so no commit was made during a pause');
    else if (this.withPauseHook && !this.hookSyncedDuringCanary)
      problems.push(
        `the commit made while the canary was paused (${this.hookRevision}) did not sync before the canary ended`,
      );
    return problems;
  }
}
