// The canary acceptance Job (rollouts/canary-acceptance.yaml): every canary runs it, it tests the canary alone,
// it is bounded (fails at once, a deadline, resources), the network admits it both ways, and the Argo Rollouts
// controller keeps the rights to create it. The facts about Argo's job provider are in the upstream ledger
// (section canary-acceptance); the pod hardening rules cover its security context (rules/pod-hardening.ts).
import type { IAnalysisRunArgument } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisRunArgument';
import type { IAnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate';
import type { IMetric } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric';
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import type { IJobSpec } from 'kubernetes-models/batch/v1/JobSpec';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import {
  analysisJobs,
  containerEnvValue,
  type IContainer,
  matchingObjects,
  ofKind,
  parseQuantity,
  podLabels,
  podSpec,
  selectorMatches,
  serviceSelects,
} from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { argocdTrees, eachObjectOfKind, envTrees } from './define-rule';
import { behaviourData, defineLedgerRule, valueAt } from './ledger';
import { analysisUses, eachCanaryRollout, pausesOnceAnalysisStarts } from './canary';

/** The acceptance command of the api image (services/api/src/acceptance.ts, bundled by services/bundle.mjs). */
export const ACCEPTANCE_COMMAND = ['node', 'services/api/dist/acceptance.js'];

interface AcceptanceMetric {
  template: IAnalysisTemplate;
  metric: IMetric;
  job: IJobSpec;
  container: IContainer;
}

function isAcceptanceContainer(container: IContainer): boolean {
  return JSON.stringify(container.command ?? []) === JSON.stringify(ACCEPTANCE_COMMAND);
}

/** The job metrics of a Rollout's analyses that run the acceptance command, with the args the Rollout passes. */
function acceptanceOf(
  tree: RenderedTree,
  rollout: IRollout,
): (AcceptanceMetric & { args: IAnalysisRunArgument[] })[] {
  return analysisUses(rollout).flatMap((use) =>
    use.templates.flatMap((reference) => {
      const template = ofKind(tree, 'AnalysisTemplate').find(
        (candidate) => candidate.metadata?.name === reference.templateName,
      );
      return acceptanceMetrics(template).map((found) => ({ ...found, args: use.args }));
    }),
  );
}

function acceptanceMetrics(template: IAnalysisTemplate | undefined): AcceptanceMetric[] {
  if (!template) return [];
  return (template.spec.metrics ?? []).flatMap((metric) => {
    const job = metric.provider.job?.spec;
    const container = (job?.template.spec?.containers ?? []).find(isAcceptanceContainer);
    return job && container ? [{ template, metric, job, container }] : [];
  });
}

/** The value an env variable of the Job gets: {{args.x}} resolved with the Rollout's args, then the defaults. */
function resolvedEnv(
  found: AcceptanceMetric,
  args: IAnalysisRunArgument[],
  variable: string,
): string | undefined {
  const raw = (found.container.env ?? []).find((e) => e.name === variable)?.value;
  if (raw === undefined) return undefined;
  return raw.replace(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g, (whole, name: string) => {
    const passed = args.find((a) => a.name === name)?.value;
    const fallback = (found.template.spec.args ?? []).find((a) => a.name === name)?.value;
    return passed ?? fallback ?? whole;
  });
}

const everyCanary = defineLedgerRule({
  name: 'canary-acceptance-every-canary',
  summary:
    "every canary Rollout's background analysis runs the acceptance Job once (a job metric, failureLimit 0), aimed at its canary Service, loading it until its steps are done",
  restsOn: {
    'rollouts-job-metric-one-job-per-measurement':
      'a Job per measurement: with an interval the metric would start a new acceptance and load every interval',
    'rollouts-job-metric-terminate-deletes':
      'the Job is deleted when the run ends first, so a load longer than the steps never outlives the canary',
  },
  check({ trees, flag }) {
    for (const { tree, rollout, canary, at } of eachCanaryRollout(envTrees(trees))) {
      const report = (message: string) => flag(at, message);
      const found = acceptanceOf(tree, rollout);
      if (found.length !== 1) {
        report(
          `its analysis runs the canary acceptance ${found.length} times: reference the canary-acceptance template once, so even a quiet environment judges the canary`,
        );
        continue;
      }
      const [acceptance] = found;
      const { metric, args } = acceptance;
      if ((metric.failureLimit ?? 0) !== 0)
        report(`${metric.name}: failureLimit must be 0: a failed acceptance aborts the release`);
      if (metric.interval !== undefined || Number(metric.count ?? 1) > 1)
        report(`${metric.name}: one Job per run: remove interval and count (each measurement is a new Job)`);
      const target = resolvedEnv(acceptance, args, 'ACCEPTANCE_TARGET_URL');
      let host: string | undefined;
      try {
        host = new URL(target ?? '').hostname.split('.')[0];
      } catch {
        host = undefined;
      }
      const services = ofKind(tree, 'Service');
      const expected = canary.canaryService
        ? [canary.canaryService]
        : services
            .filter((s) => serviceSelects(s, { 'app.kubernetes.io/name': 'api' }))
            .map((s) => s.metadata?.name);
      if (!host || !expected.includes(host)) {
        report(
          `${metric.name}: ACCEPTANCE_TARGET_URL ${target} must name ${canary.canaryService ? `the canary Service ${canary.canaryService}` : 'an api Service'}: the acceptance and load must reach the pods being judged`,
        );
      }
      const loadSeconds = Number(resolvedEnv(acceptance, args, 'LOAD_DURATION_SECONDS'));
      const pauses = pausesOnceAnalysisStarts(rollout).reduce((sum, seconds) => sum + seconds, 0);
      if (!(loadSeconds >= pauses)) {
        report(
          `${metric.name}: LOAD_DURATION_SECONDS ${loadSeconds} ends before the canary's ${pauses}s of pauses: a quiet canary would go unjudged at its last weights`,
        );
      }
    }
  },
});

/** The goal for every bad build, a never-completing one included: aborted within 60 s of taking traffic. */
const ABORT_GOAL_SECONDS = 60;
/** What the acceptance bound leaves for the Job's pod to be scheduled and started (image on the node). */
const POD_START_ALLOWANCE_SECONDS = 15;

const bounded = defineLedgerRule({
  name: 'canary-acceptance-bounded',
  summary:
    'the acceptance Job starts with the analysis and fails at its first failure (backoffLimit 0) within the 60 s abort goal, has a deadline past its own bounds, and requests and limits cpu and memory',
  restsOn: {
    'rollouts-job-metric-verdict':
      'JobFailed, the condition Argo reads, comes only after backoffLimit retries',
    // Together: a never-completing build is aborted at pod start + ACCEPTANCE_TIMEOUT_MS.
    'rollouts-metric-without-initial-delay-starts-with-run':
      "a metric without initialDelay is measured (its Job created) at the run's first reconcile",
    'rollouts-job-condition-enqueues-run': "a Job's JobFailed wakes the run at once",
  },
  check({ trees, flag }) {
    for (const { tree, object: template } of eachObjectOfKind(envTrees(trees), 'AnalysisTemplate')) {
      for (const { metric, job, container } of acceptanceMetrics(template)) {
        const report = (message: string) => flag(where(tree, template, `metric "${metric.name}"`), message);
        if (job.backoffLimit !== 0)
          report(
            'backoffLimit must be 0: a retried acceptance delays the abort and can hide a flaky release',
          );
        const loadSeconds = Number(containerEnvValue(tree, container, 'LOAD_DURATION_SECONDS'));
        const acceptanceSeconds = Number(containerEnvValue(tree, container, 'ACCEPTANCE_TIMEOUT_MS')) / 1000;
        if (metric.initialDelay !== undefined)
          report(
            `initialDelay ${metric.initialDelay} delays the acceptance: its Job must start with the analysis, when the canary takes traffic`,
          );
        if (!(acceptanceSeconds + POD_START_ALLOWANCE_SECONDS <= ABORT_GOAL_SECONDS))
          report(
            `ACCEPTANCE_TIMEOUT_MS ${acceptanceSeconds * 1000} leaves less than ${POD_START_ALLOWANCE_SECONDS}s for the Job's pod to start: a build whose jobs never complete must be aborted within ${ABORT_GOAL_SECONDS}s of taking traffic`,
          );
        const needed = loadSeconds + acceptanceSeconds;
        if (!(Number(job.activeDeadlineSeconds) > needed)) {
          report(
            `activeDeadlineSeconds ${job.activeDeadlineSeconds} must exceed the load and acceptance bounds (${needed}s): a hung Job must end, a healthy one must end on its own first`,
          );
        }
        for (const kind of ['requests', 'limits'] as const)
          for (const resource of ['cpu', 'memory'])
            if (!(parseQuantity(container.resources?.[kind]?.[resource]) > 0))
              report(`container "${container.name}" needs resources.${kind}.${resource}`);
      }
    }
  },
});

/** Whether one of the policy's rules admits (ingress) or allows (egress) peers with `labels` on `port`. */
function policyAllows(
  rules:
    { from?: INetworkPolicyPeer[]; to?: INetworkPolicyPeer[]; ports?: INetworkPolicyPort[] }[] | undefined,
  direction: 'from' | 'to',
  labels: Record<string, string>,
  ports: (string | number | undefined)[],
): boolean {
  return (rules ?? []).some(
    (rule) =>
      (rule[direction] ?? []).some(
        (peer) => !peer.namespaceSelector && peer.podSelector && selectorMatches(peer.podSelector, labels),
      ) && (rule.ports ?? []).some((p) => ports.includes(p.port)),
  );
}

const admitted = defineLedgerRule({
  name: 'canary-acceptance-admitted',
  summary:
    'the acceptance Job has its own NetworkPolicy (no ingress, egress to the api pods and DNS only) and the api NetworkPolicy admits it',
  restsOn: {
    'rollouts-job-metric-namespace-and-owner':
      "the Job runs in the Rollout's namespace: its NetworkPolicy and the api's live there",
  },
  check({ trees, flag }) {
    for (const tree of envTrees(trees)) {
      const api = ofKind(tree, 'Rollout').find((r) => r.metadata?.name === 'api');
      for (const job of analysisJobs(tree)) {
        const labels = podLabels(job);
        const report = (message: string) => flag(where(tree, job), message);
        const own = matchingObjects(tree, 'NetworkPolicy', job, (p) => p.spec?.podSelector);
        const restricting = own.filter((p) => {
          const types = p.spec?.policyTypes ?? [];
          return types.includes('Ingress') && types.includes('Egress');
        });
        if (restricting.length === 0) {
          report(
            'no NetworkPolicy with policyTypes [Ingress, Egress] selects its pods: add its own, in the Rollout namespace',
          );
          continue;
        }
        if (restricting.some((p) => (p.spec?.ingress ?? []).length > 0))
          report('its NetworkPolicy admits ingress: nothing calls the acceptance Job');
        if (!api) continue;
        const apiPort = podSpec(api).containers?.[0]?.ports?.[0];
        if (
          !restricting.some((p) =>
            policyAllows(p.spec?.egress, 'to', podLabels(api), [apiPort?.containerPort, apiPort?.name]),
          )
        )
          report(`its NetworkPolicy must allow egress to the api pods on port ${apiPort?.containerPort}`);
        const apiPolicies = matchingObjects(tree, 'NetworkPolicy', api, (p) => p.spec?.podSelector);
        if (
          !apiPolicies.some((p) =>
            policyAllows(p.spec?.ingress, 'from', labels, [apiPort?.name, apiPort?.containerPort]),
          )
        )
          report('the api NetworkPolicy does not admit it: add its pod labels to the api ingress');
      }
    }
  },
});

const controllerCreatesJobs = defineLedgerRule({
  name: 'canary-acceptance-controller-rbac',
  summary:
    "the Argo Rollouts chart keeps the controller's cluster role, which grants the batch/jobs rights a job metric needs",
  check({ ledger, trees, flag }) {
    const rbac = ledger.behaviour('argo-rollouts-chart-job-rbac');
    const { verbs } = behaviourData(ledger, 'argo-rollouts-chart-job-rbac');
    for (const { object: application, at } of eachObjectOfKind(argocdTrees(trees), 'Application')) {
      if (application.spec.source?.chart !== 'argo-rollouts') continue;
      const values = application.spec.source.helm?.valuesObject;
      if (
        valueAt(values, 'clusterInstall') === false ||
        valueAt(values, 'controller.createClusterRole') === false
      ) {
        flag(
          at,
          `clusterInstall / controller.createClusterRole switched off: the controller loses batch/jobs ${verbs.join(', ')} and every canary's acceptance Job errors (${rbac.source.path})`,
        );
      }
    }
  },
});

export const canaryAcceptanceRules = [everyCanary, bounded, admitted, controllerCreatesJobs];
