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
    scenario: { kind: 'api', name: 'api-latency', canary: { latencyMs: 800 } },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: 'a canary build 800 ms slower than the stable fails the p99 latency metric and is aborted',
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
  'api-no-traffic': {
    scenario: { kind: 'api', name: 'api-no-traffic', canary: {}, canaryTakesTraffic: false },
    expectedPhase: 'Inconclusive',
    expectedDecision: 'pause',
    purpose:
      'a canary that has taken no traffic is neither promoted nor aborted: the Rollout pauses for a human',
  },
  'prometheus-unreachable': {
    scenario: { kind: 'api', name: 'prometheus-unreachable', canary: {}, prometheusReachable: false },
    expectedPhase: 'Error',
    expectedDecision: 'abort',
    purpose: 'with Prometheus unreachable the run errors after consecutiveErrorLimit and the Rollout aborts',
  },
  'worker-job-failures': {
    scenario: { kind: 'worker', name: 'worker-job-failures', canary: { jobFailureRatio: 0.5 } },
    expectedPhase: 'Failed',
    expectedDecision: 'abort',
    purpose: 'a worker canary failing half of its job attempts fails the job-failure metric and is aborted',
  },
};

/** What `npm run rehearse:canary` runs without --scenario: one bad build per AnalysisTemplate. */
export const DEFAULT_SCENARIOS = ['api-errors', 'api-latency', 'worker-job-failures'];
