// One canary rehearsal: the Rollout's first canary step played out on this machine, with no cluster.
//
//   1. the plan comes from the rendered overlay: the Rollout's weights and pauses, the AnalysisTemplates it
//      references, the args it passes (podTemplateHashValue, fieldRef, literals), the ServiceMonitor's labels;
//   2. a stable and a canary pod of the real service run as processes, the canary made bad by chaos knobs,
//      and a real Prometheus scrapes both with the labels the ServiceMonitor would give them;
//   3. user traffic is split by the current canary weight (the weights move at the Rollout's steps);
//   4. the AnalysisRun is evaluated with Argo Rollouts' rules against that Prometheus; a Failed or Error run
//      aborts (canary weight back to 0, the worker canary scaled away), an Inconclusive one pauses, a
//      Successful one promotes.
//
// Every duration of the spec (intervals, initial delays, the 10 s error retry, pauses, PromQL ranges, the
// scrape interval) is divided by `timeScale`: the rehearsal reads the same number of scrapes per
// measurement as production, in 1/timeScale of the time.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseGoDuration } from '../lib/duration';
import { AnalysisRun, isCompleted, metricLimits, type AnalysisPhase, type MetricSpec } from './analysis-run';
import {
  deleteQueueKeys,
  freePort,
  testQueuePrefix,
  type PrometheusServer,
  type ServiceName,
} from '@opsforge/harness';
import { Pod, podTemplateHash } from './instances';
import { canaryPlan, type CanaryPlan, type KubernetesObject } from './manifests';
import { isJobMetric, jobContainerOf, prepareMetricJob } from './job-provider';
import { measurePrometheusMetric, prometheusProviderOf } from './prometheus-provider';
import { scaleQueryDurations } from './promql';
import { workloadOf, type CanaryWork, type CanaryWorkload, type PodRequest } from './workloads';

/** One rehearsed situation: the workload whose Rollout is rehearsed and how its canary build is broken. */
export type Scenario = {
  name: string;
  /** false: the analysis queries an address where no Prometheus listens. */
  prometheusReachable?: boolean;
  /** Consecutive AnalysisRuns over the same pods (each a fresh run, as after a retry). */
  runs?: number;
  /** A quiet environment: no user traffic (api) or no user jobs (worker), only the acceptance Job's load. */
  quiet?: boolean;
} & (
  | {
      kind: 'api';
      /**
       * Chaos knobs of the canary build (docs/architecture.md); `unconsumedQueue`: the canary API enqueues
       * under a queue prefix no worker reads (a broken queue name): it answers 202, its jobs never complete.
       */
      canary: { errorRatio?: number; latencyMs?: number; unconsumedQueue?: boolean };
    }
  | {
      kind: 'worker';
      canary: { jobFailureRatio: number };
    }
);

export interface RehearsalSettings {
  /** The objects of the rendered env overlay. */
  objects: KubernetesObject[];
  environment: string;
  timeScale: number;
  prometheus: PrometheusServer;
  redisUrl: string;
  /** User requests per second to the API (stable and canary together), in rehearsal time. */
  requestRatePerSecond: number;
  /** Jobs enqueued per second for the worker scenario, in rehearsal time. */
  jobRatePerSecond: number;
  log?: (line: string) => void;
}

export interface MeasurementReport {
  /** Seconds since the analysis run started, rehearsal time. */
  atSeconds: number;
  phase: AnalysisPhase;
  value?: string;
  message?: string;
}

export interface MetricReport {
  name: string;
  phase: AnalysisPhase;
  dryRun: boolean;
  message?: string;
  limits: ReturnType<typeof metricLimits>;
  queryRewrites: { from: string; to: string }[];
  measurements: MeasurementReport[];
}

export type Decision = 'abort' | 'pause' | 'promote';

export interface RunReport {
  phase: AnalysisPhase;
  message: string;
  decision: Decision;
  /** From the canary's first traffic to the run's creation, rehearsal time (the Rollout's pauses before it). */
  analysisStartedAfterMs: number;
  /** From the canary's first traffic to the run's verdict, rehearsal time. */
  decidedAfterMs: number;
  /** Canary weight when the verdict came. */
  weightAtDecision: number;
  metrics: MetricReport[];
  /** What the canary served before the verdict: user requests (api) or job attempts (worker). */
  canary: { served: number; failed: number; unit: 'requests' | 'job attempts' };
}

export interface RehearsalReport {
  scenario: string;
  rollout: string;
  namespace: string;
  environment: string;
  templates: string[];
  args: Record<string, string>;
  timeScale: number;
  scrapeIntervalMs: { production: number; rehearsal: number };
  firstWeight: number;
  hashes: { stable: string; canary: string };
  canaryBuild: Record<string, number | string>;
  /** The rest of the traffic: the stable's user requests (api), or the jobs enqueued through the API (worker). */
  background: { label: string; sent: number; failed: number };
  runs: RunReport[];
}

const DECISIONS: Partial<Record<AnalysisPhase, Decision>> = {
  Failed: 'abort',
  Error: 'abort',
  Inconclusive: 'pause',
  Successful: 'promote',
};

/**
 * Runs every cleanup step even when one fails (a pod must never outlive its rehearsal), then reports the
 * first failure.
 */
async function cleanUp(steps: (() => Promise<unknown>)[]): Promise<void> {
  const outcomes = await Promise.allSettled(steps.map((step) => step()));
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

/** What every report says about the rehearsed plan, whichever workload it is. */
function planSummary(
  scenario: Scenario,
  plan: CanaryPlan,
  settings: RehearsalSettings,
  prometheusAddress: string,
): Omit<RehearsalReport, 'hashes' | 'canaryBuild' | 'background' | 'runs'> {
  return {
    scenario: scenario.name,
    rollout: plan.rolloutName,
    namespace: plan.namespace,
    environment: settings.environment,
    templates: plan.templateNames,
    args: {
      ...plan.args,
      'prometheus-address': `${plan.args['prometheus-address']} (rehearsal: ${prometheusAddress})`,
    },
    timeScale: settings.timeScale,
    scrapeIntervalMs: {
      production: plan.scrapeIntervalMs,
      rehearsal: plan.scrapeIntervalMs / settings.timeScale,
    },
    firstWeight: plan.firstWeight,
  };
}

/** Takes every pod out of Prometheus and stops it, then deletes the rehearsal's queue keys. */
async function tearDown(started: Pod[], settings: RehearsalSettings, queuePrefixes: string[]): Promise<void> {
  try {
    await cleanUp([
      ...started.map((pod) => () => settings.prometheus.removeTarget(pod.address)),
      ...started.map((pod) => () => pod.stop()),
    ]);
  } finally {
    // After the pods are gone, so none of them writes a key back.
    for (const prefix of queuePrefixes) await deleteQueueKeys(settings.redisUrl, prefix);
  }
}

interface RunContext {
  plan: CanaryPlan;
  settings: RehearsalSettings;
  prometheusAddress: string;
  work: CanaryWork;
  canaryUnit: RunReport['canary']['unit'];
  /** Milliseconds since the canary took its first traffic. */
  sinceFirstTraffic: () => number;
  /** Canary work served and failed during this run. */
  canaryCounts: () => Promise<{ served: number; failed: number }>;
  log: (line: string) => void;
}

/**
 * Plays the Rollout's steps and the AnalysisRun together until the run's verdict: the weights move at the
 * step times, a background run is terminated when the last step is done, and the verdict acts on the canary.
 */
async function playAnalysisRun(context: RunContext): Promise<RunReport> {
  const { plan, settings } = context;
  const scale = settings.timeScale;
  const rehearsalScrapeMs = plan.scrapeIntervalMs / scale;
  const queryRewrites = new Map<string, { from: string; to: string }[]>();
  const runStartedAtTraffic = context.sinceFirstTraffic();
  const clock = () => performance.now();
  // One Job process per job metric, started ahead and released when the metric measures (job-gate.cjs); a
  // second measurement (after an Error) starts its own.
  const jobEnvironment = { timeScale: scale, services: context.work.services, log: context.log };
  const preparedJobs = new Map(
    plan.metrics.filter(isJobMetric).map((metric) => [metric.name, prepareMetricJob(metric, jobEnvironment)]),
  );
  const run = new AnalysisRun({
    metrics: plan.metrics,
    dryRunMetrics: plan.dryRunMetrics,
    timeScale: scale,
    clock,
    provider: async (metric: MetricSpec) =>
      isJobMetric(metric)
        ? releaseJob(metric)
        : measurePrometheusMetric(metric, {
            address: context.prometheusAddress,
            rewriteQuery: (query) => {
              // rate() needs two samples in its window: never shorter than two rehearsal scrapes.
              const scaled = scaleQueryDurations(query, scale, 2 * rehearsalScrapeMs);
              queryRewrites.set(metric.name, scaled.rewrites);
              return scaled.query;
            },
          }),
  });

  // Every released Job process, awaited once the verdict is taken (a terminated one is still stopping).
  const jobExits: Promise<unknown>[] = [];
  function releaseJob(metric: MetricSpec) {
    const prepared = preparedJobs.get(metric.name) ?? prepareMetricJob(metric, jobEnvironment);
    preparedJobs.delete(metric.name);
    const running = prepared.run();
    jobExits.push(running.completion);
    return running;
  }

  const schedule = plan.weightSchedule.map((step) => ({ at: step.atMs / scale, weight: step.weight }));
  const completesAt = plan.completesAfterMs / scale;
  let scheduleIndex = schedule.findIndex((step) => step.at > runStartedAtTraffic);
  if (scheduleIndex < 0) scheduleIndex = schedule.length;
  // Bound a run that never ends (an indefinite pause and a metric without count): twice the longest metric.
  const longestMetricMs = Math.max(
    ...plan.metrics.map((metric) => {
      const { count } = metricLimits(metric);
      const intervalMs = metric.interval ? parseGoDuration(metric.interval) : 0;
      return parseGoDuration(metric.initialDelay ?? '0s') + (count ?? 100) * intervalMs;
    }),
  );
  const deadline = clock() + (2 * Math.min(completesAt, longestMetricMs / scale) + 30_000);

  let analysisStartedAfterMs: number | undefined;
  for (;;) {
    await run.reconcileUntilSettled();
    analysisStartedAfterMs ??= context.sinceFirstTraffic();
    if (isCompleted(run.phase)) break;
    if (clock() > deadline)
      throw new Error(`the analysis run was still ${run.phase} after its expected duration`);
    const sinceTraffic = context.sinceFirstTraffic();
    if (sinceTraffic >= completesAt) {
      // The Rollout has run all its steps: it promotes and ends the background run (spec.terminate).
      run.terminate();
      continue;
    }
    const nextRun = run.nextReconcileAt();
    const untilRun = nextRun === undefined ? Infinity : nextRun - clock() + 1;
    const untilStep = scheduleIndex < schedule.length ? schedule[scheduleIndex].at - sinceTraffic : Infinity;
    const untilCompletion = completesAt - sinceTraffic;
    // The controller also wakes when a Job it owns completes or fails.
    const wait = new AbortController();
    await Promise.race([
      sleep(Math.max(0, Math.min(untilRun, untilStep, untilCompletion)), undefined, {
        signal: wait.signal,
      }).catch(() => undefined),
      run.measurementCompleted(),
    ]);
    wait.abort();
    while (scheduleIndex < schedule.length && schedule[scheduleIndex].at <= context.sinceFirstTraffic()) {
      await context.work.setCanaryWeight(schedule[scheduleIndex].weight);
      settings.log?.(`  ${plan.rolloutName}: setWeight ${schedule[scheduleIndex].weight}`);
      scheduleIndex += 1;
    }
  }

  for (const unused of preparedJobs.values()) unused.discard();
  const decidedAfterMs = context.sinceFirstTraffic();
  const weightAtDecision = currentWeight(schedule, decidedAfterMs);
  const canary = await context.canaryCounts();
  const decision = DECISIONS[run.phase]!;
  if (decision === 'abort') await context.work.setCanaryWeight(0);
  await Promise.all(jobExits);
  const runStartedAt = run.startedAt ?? 0;
  return {
    phase: run.phase,
    message: run.message,
    decision,
    analysisStartedAfterMs: analysisStartedAfterMs!,
    decidedAfterMs,
    weightAtDecision,
    canary: { ...canary, unit: context.canaryUnit },
    metrics: plan.metrics.map((metric) => {
      const result = run.results.get(metric.name);
      return {
        name: metric.name,
        phase: result?.phase ?? 'Pending',
        dryRun: plan.dryRunMetrics.has(metric.name),
        message: result?.message,
        limits: metricLimits(metric),
        queryRewrites: queryRewrites.get(metric.name) ?? [],
        measurements: (result?.measurements ?? []).map((measurement) => ({
          atSeconds: (measurement.finishedAt - runStartedAt) / 1000,
          phase: measurement.phase,
          value: measurement.value,
          message: measurement.message,
        })),
      };
    }),
  };
}

function currentWeight(schedule: { at: number; weight: number }[], at: number): number {
  let weight = 0;
  for (const step of schedule) if (step.at <= at) weight = step.weight;
  return weight;
}

function validateSettings(settings: RehearsalSettings): void {
  if (!(settings.timeScale >= 1)) throw new Error(`timeScale must be >= 1 (got ${settings.timeScale})`);
  if (!(settings.requestRatePerSecond > 0) || !(settings.jobRatePerSecond > 0))
    throw new Error('request and job rates must be positive');
}

/** Starts every pod at once; if one fails, stops the others and reports the failure. */
async function startPods(requests: PodRequest[], settings: RehearsalSettings, queuePrefixes: string[]) {
  const pods = await Promise.allSettled(requests.map((request) => Pod.start(request)));
  const started = pods.flatMap((pod) => (pod.status === 'fulfilled' ? [pod.value] : []));
  const failure = pods.find((pod): pod is PromiseRejectedResult => pod.status === 'rejected');
  if (failure) {
    await tearDown(started, settings, queuePrefixes);
    throw failure.reason;
  }
  return started;
}

export async function rehearse(scenario: Scenario, settings: RehearsalSettings): Promise<RehearsalReport> {
  validateSettings(settings);
  for (const metric of settings.objects
    .filter((object) => object.kind === 'AnalysisTemplate')
    .flatMap((object) => (object.spec as { metrics: MetricSpec[] }).metrics)) {
    // Fail before starting anything if a template has a metric the rehearsal cannot run.
    if (isJobMetric(metric)) jobContainerOf(metric);
    else prometheusProviderOf(metric);
  }
  const workload = workloadOf(scenario);
  const hashes = { stable: podTemplateHash(), canary: podTemplateHash() };
  const plan = canaryPlan(settings.objects, workload.rollout, hashes);
  const queuePrefix = testQueuePrefix('rehearsal');
  const baseEnv = { REDIS_URL: settings.redisUrl, QUEUE_PREFIX: queuePrefix };
  const queuePrefixes = [queuePrefix, ...workload.extraQueuePrefixes];
  const log = (line: string) => settings.log?.(`[${scenario.name}] ${line}`);
  log(workload.describe(hashes));
  const helpers = workload.helpers(baseEnv);
  const started = await startPods(
    [
      ...helpers,
      {
        service: plan.rolloutName as ServiceName,
        hash: hashes.stable,
        env: { ...baseEnv, APP_VERSION: 'stable' },
      },
      {
        service: plan.rolloutName as ServiceName,
        hash: hashes.canary,
        env: {
          ...baseEnv,
          APP_VERSION: 'canary',
          ...workload.canaryEnv,
        },
      },
    ],
    settings,
    queuePrefixes,
  );
  const [stable, canary] = started.slice(helpers.length);
  let work: CanaryWork | undefined;
  try {
    for (const pod of [stable, canary]) {
      await settings.prometheus.addTarget({
        address: pod.address,
        labels: plan.targetLabels({ name: pod.name, hash: pod.hash }),
      });
    }
    await settings.prometheus.waitForTargetsUp([stable.address, canary.address], 30_000);
    work = workload.startWork(
      { stable, canary, helpers: started.slice(0, helpers.length) },
      plan,
      settings,
      log,
    );
    const prometheusAddress =
      scenario.prometheusReachable === false
        ? `http://127.0.0.1:${await freePort()}`
        : settings.prometheus.url;
    const runs = await playRuns(scenario.runs ?? 1, work, workload, plan, settings, prometheusAddress, log);
    const activeWork = work;
    work = undefined;
    return {
      ...planSummary(scenario, plan, settings, prometheusAddress),
      hashes,
      canaryBuild: workload.canaryBuild,
      background: await activeWork.stop(),
      runs,
    };
  } finally {
    await work?.stop();
    await tearDown(started, settings, queuePrefixes);
  }
}

/**
 * Each run rehearses the release from its first step: the canary takes the first weight, the Rollout's
 * pauses before the analysis pass, then the AnalysisRun is played to its verdict. A run that does not
 * promote ends the rehearsal.
 */
async function playRuns(
  count: number,
  work: CanaryWork,
  workload: CanaryWorkload,
  plan: CanaryPlan,
  settings: RehearsalSettings,
  prometheusAddress: string,
  log: (line: string) => void,
): Promise<RunReport[]> {
  const runs: RunReport[] = [];
  for (let index = 0; index < count; index += 1) {
    await work.setCanaryWeight(plan.firstWeight);
    const firstTrafficAt = work.now();
    const before = await work.canaryCounts();
    await sleep(plan.analysisStartDelayMs / settings.timeScale);
    const report = await playAnalysisRun({
      plan,
      settings,
      prometheusAddress,
      work,
      log,
      sinceFirstTraffic: () => work.now() - firstTrafficAt,
      canaryUnit: workload.canaryUnit,
      canaryCounts: async () => {
        const now = await work.canaryCounts();
        return { served: now.served - before.served, failed: now.failed - before.failed };
      },
    });
    runs.push(report);
    log(
      `run ${index + 1}: ${report.phase} -> ${report.decision} after ${(report.decidedAfterMs / 1000).toFixed(1)} s`,
    );
    if (report.decision !== 'promote') break;
  }
  return runs;
}
