// What differs between rehearsing the api Rollout and the worker's: the pods each needs besides its stable and
// canary, how the canary build is broken, and the work that reaches the canary (user requests split by the
// canary weight, or jobs through a producer API that every worker pod takes from the shared queue).
import { podTemplateHash, sumCounter, type Pod } from './instances';
import type { CanaryPlan } from './manifests';
import type { RehearsalReport, RehearsalSettings, RunReport, Scenario } from './rehearsal';
import { SplitTraffic, type TrafficRequest } from './traffic';
import { testQueuePrefix, type ServiceName } from '@opsforge/harness';

const STATUS_REQUEST: TrafficRequest = { method: 'GET', path: '/api/status' };

export interface PodRequest {
  service: ServiceName;
  hash: string;
  env: Record<string, string>;
}

/** The work a started workload does, and how the Rollout's weight acts on its canary. */
export interface CanaryWork {
  /** Milliseconds on the work's clock. */
  now(): number;
  /** Sets the canary's share of the work (traffic weight, or for the worker: scaled away at 0). */
  setCanaryWeight(weight: number): Promise<void> | void;
  /** Canary work served and failed since the pods started. */
  canaryCounts(): Promise<{ served: number; failed: number }>;
  /** Stops the work and says what the rest of it (not the canary's) amounted to. */
  stop(): Promise<RehearsalReport['background']>;
  /** In-cluster Service name -> URL of the pod process standing for it, for the acceptance Job. */
  services: Record<string, string>;
}

/**
 * What differs between rehearsing one Rollout and another: the pods it needs besides its stable and canary
 * (the worker's job producer), the canary build, and the work that reaches the canary.
 */
export interface CanaryWorkload {
  rollout: string;
  canaryUnit: RunReport['canary']['unit'];
  canaryBuild: Record<string, number | string>;
  /** The canary's environment besides the rehearsal's Redis and queue prefix. */
  canaryEnv: Record<string, string>;
  /** Queue prefixes the canary uses besides the rehearsal's, deleted with it. */
  extraQueuePrefixes: string[];
  describe(hashes: { stable: string; canary: string }): string;
  /** Pods started besides the stable and the canary; not scraped, not part of the canary. */
  helpers(baseEnv: Record<string, string>): PodRequest[];
  startWork(
    pods: { stable: Pod; canary: Pod; helpers: Pod[] },
    plan: CanaryPlan,
    settings: RehearsalSettings,
    log: (line: string) => void,
  ): CanaryWork;
}

function apiWorkload(scenario: Extract<Scenario, { kind: 'api' }>): CanaryWorkload {
  const unconsumedPrefix = scenario.canary.unconsumedQueue
    ? testQueuePrefix('rehearsal-unconsumed')
    : undefined;
  const canaryBuild: Record<string, number | string> = {
    CHAOS_ERROR_RATIO: scenario.canary.errorRatio ?? 0,
    CHAOS_LATENCY_MS: scenario.canary.latencyMs ?? 0,
  };
  if (unconsumedPrefix) canaryBuild.QUEUE_PREFIX = unconsumedPrefix;
  return {
    rollout: 'api',
    canaryUnit: 'requests',
    canaryBuild,
    canaryEnv: Object.fromEntries(Object.entries(canaryBuild).map(([name, value]) => [name, String(value)])),
    extraQueuePrefixes: unconsumedPrefix ? [unconsumedPrefix] : [],
    describe: (hashes) =>
      `starting stable (${hashes.stable}) and canary (${hashes.canary}) api pods and a worker for their jobs`,
    // The acceptance Job's jobs need a worker to complete them; it is not part of the api canary.
    helpers: (baseEnv) => [
      { service: 'worker', hash: podTemplateHash(), env: { ...baseEnv, APP_VERSION: 'stable' } },
    ],
    startWork({ stable, canary }, plan, settings, log) {
      const userRate = scenario.quiet ? 0 : settings.requestRatePerSecond;
      const traffic = new SplitTraffic({
        stableUrl: stable.url,
        canaryUrl: canary.url,
        ratePerSecond: userRate,
        canaryWeight: plan.firstWeight,
        request: () => STATUS_REQUEST,
      });
      log(`user traffic ${userRate}/s, canary weight ${plan.firstWeight}%`);
      return {
        services: { 'api-canary': canary.url, api: stable.url },
        now: () => traffic.now(),
        setCanaryWeight: (weight) => traffic.setCanaryWeight(weight),
        canaryCounts: async () => ({
          served: traffic.stats.canary.sent,
          failed: traffic.stats.canary.failed,
        }),
        async stop() {
          const totals = await traffic.stop();
          return { label: 'stable user requests', sent: totals.stable.sent, failed: totals.stable.failed };
        },
      };
    },
  };
}

async function workerAttempts(pod: Pod): Promise<{ served: number; failed: number }> {
  const text = await pod.metricsText();
  return {
    served: sumCounter(text, 'jobs_processed_total'),
    failed: sumCounter(text, 'jobs_processed_total', (labels) => /outcome="(retried|failed)"/.test(labels)),
  };
}

function workerWorkload(scenario: Extract<Scenario, { kind: 'worker' }>): CanaryWorkload {
  return {
    rollout: 'worker',
    canaryUnit: 'job attempts',
    canaryBuild: { CHAOS_JOB_FAILURE_RATIO: scenario.canary.jobFailureRatio },
    canaryEnv: { CHAOS_JOB_FAILURE_RATIO: String(scenario.canary.jobFailureRatio) },
    extraQueuePrefixes: [],
    describe: (hashes) =>
      `starting the job producer (api), stable (${hashes.stable}) and canary (${hashes.canary}) worker pods`,
    // The worker has no traffic routing: with the dev overlay's one replica, the canary's first setWeight
    // rounds up to one canary pod next to the stable one, and both take jobs from the same queue. Jobs enter
    // through an API pod, as users create them; that producer is not part of the canary.
    helpers: (baseEnv) => [
      { service: 'api', hash: podTemplateHash(), env: { ...baseEnv, APP_VERSION: 'producer' } },
    ],
    startWork({ canary, helpers: [producer] }, _plan, settings, log) {
      const userRate = scenario.quiet ? 0 : settings.jobRatePerSecond;
      const jobs = new SplitTraffic({
        stableUrl: producer.url,
        canaryUrl: producer.url,
        ratePerSecond: userRate,
        canaryWeight: 0,
        request: (sequence) => ({
          method: 'POST',
          path: '/api/job',
          body: JSON.stringify({ type: 'ping', payload: { note: `rehearsal ${sequence}` } }),
        }),
      });
      log(`${userRate} user jobs/s`);
      let countsAtStop: { served: number; failed: number } | undefined;
      return {
        services: { api: producer.url },
        now: () => jobs.now(),
        async setCanaryWeight(weight) {
          if (weight > 0 || countsAtStop) return;
          // Abort: the Rollout scales the canary ReplicaSet to zero; its counters are what it did before.
          countsAtStop = await workerAttempts(canary);
          await settings.prometheus.removeTarget(canary.address);
          await canary.stop();
        },
        canaryCounts: async () => countsAtStop ?? workerAttempts(canary),
        async stop() {
          const produced = await jobs.stop();
          return {
            label: 'jobs enqueued through the API',
            sent: produced.stable.sent,
            failed: produced.stable.failed,
          };
        },
      };
    },
  };
}

export function workloadOf(scenario: Scenario): CanaryWorkload {
  return scenario.kind === 'api' ? apiWorkload(scenario) : workerWorkload(scenario);
}
