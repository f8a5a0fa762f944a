// The rehearsed situations and the verdict Argo Rollouts must reach in each: the CLI runs them by name and
// fails when a verdict is not the expected one; the jest specs run the same catalogue.
import type { Decision, Scenario } from './rehearsal';
import type { AnalysisPhase } from './analysis-run';

export interface CatalogueEntry {
  scenario: Scenario;
  expectedPhase: AnalysisPhase;
  expectedDecision: Decision;
  /** Why this situation is rehearsed. */
  purpose: string;
}

export const CATALOGUE: Record<string, CatalogueEntry> = {
  'api-errors': {
    scenario: { kind: 'api', name: 'api-errors', canary: { errorRatio: 0.2 } },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: 'a canary build answering 20% of user requests with 500 is aborted without a human',
  },
  'api-latency': {
    scenario: { kind: 'api', name: 'api-latency', canary: { latencyMs: 500 } },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: 'a canary build 500 ms slower than the stable fails the p99 latency metric and is aborted',
  },
  'api-healthy': {
    // 0.1%: the whole error budget of a 99.9% availability objective, spent evenly.
    scenario: { kind: 'api', name: 'api-healthy', canary: { errorRatio: 0.001 }, runs: 3 },
    expectedPhase: 'Successful',
    expectedDecision: 'promote',
    purpose:
      'a healthy canary with a low background error rate is promoted, run after run, with no false abort',
  },
  'api-no-5xx': {
    scenario: { kind: 'api', name: 'api-no-5xx', canary: {} },
    expectedPhase: 'Successful',
    expectedDecision: 'promote',
    purpose:
      'a canary that never answered 5xx (its 5xx series stay at 0, or do not exist) is promoted, not errored',
  },
  'api-quiet-healthy': {
    scenario: { kind: 'api', name: 'api-quiet-healthy', canary: { errorRatio: 0.001 }, quiet: true },
    expectedPhase: 'Successful',
    expectedDecision: 'promote',
    purpose:
      "in a quiet environment (no user traffic at all) a healthy canary is judged on the acceptance Job's load and promoted, not paused Inconclusive",
  },
  'api-quiet-errors': {
    scenario: { kind: 'api', name: 'api-quiet-errors', canary: { errorRatio: 0.2 }, quiet: true },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose:
      "in a quiet environment a canary answering 20% errors is aborted on the acceptance Job's load alone",
  },
  'api-quiet-latency': {
    scenario: { kind: 'api', name: 'api-quiet-latency', canary: { latencyMs: 500 }, quiet: true },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: "in a quiet environment a canary 500 ms slower is aborted on the acceptance Job's load alone",
  },
  'api-quiet-jobs-never-complete': {
    scenario: {
      kind: 'api',
      name: 'api-quiet-jobs-never-complete',
      canary: { unconsumedQueue: true },
      quiet: true,
    },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose:
      'a canary API that answers 202 but whose jobs never complete (a queue no worker reads) fails the acceptance Job and is aborted',
  },
  'prometheus-unreachable': {
    scenario: { kind: 'api', name: 'prometheus-unreachable', canary: {}, prometheusReachable: false },
    expectedPhase: 'Error',
    expectedDecision: 'abort',
    purpose: 'with Prometheus unreachable the run errors after consecutiveErrorLimit and the Rollout aborts',
  },
  'worker-job-failures': {
    scenario: { kind: 'worker', name: 'worker-job-failures', canary: { jobFailureRatio: 0.2 } },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: 'a worker canary failing 20% of its job attempts fails the job-failure metric and is aborted',
  },
  'worker-quiet-healthy': {
    scenario: { kind: 'worker', name: 'worker-quiet-healthy', canary: { jobFailureRatio: 0 }, quiet: true },
    expectedPhase: 'Successful',
    expectedDecision: 'promote',
    purpose:
      "in a quiet environment (no user jobs) a healthy worker canary is judged on the acceptance Job's jobs and promoted",
  },
  'worker-quiet-job-failures': {
    scenario: {
      kind: 'worker',
      name: 'worker-quiet-job-failures',
      canary: { jobFailureRatio: 0.2 },
      quiet: true,
    },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose:
      "in a quiet environment a worker canary failing 20% of its attempts is aborted on the acceptance Job's jobs",
  },
};

/** What `npm run rehearse:canary` runs without --scenario: one bad build per AnalysisTemplate. */
export const DEFAULT_SCENARIOS = [
  'api-errors',
  'api-latency',
  'worker-job-failures',
  'api-quiet-jobs-never-complete',
];
