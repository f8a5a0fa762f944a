// What keeps a service answering through restarts, drains and outages: probes, PodDisruptionBudgets that
// still let nodes drain, spread across nodes and zones, and a drain that fits the grace period.
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import {
  containerEnvValue,
  matchingObjects,
  minimumReplicas,
  objectName,
  podLabels,
  podSpec,
  selectorMatches,
  workloads,
} from '../../lib/kubernetes';
import { defineRule, eachObjectOfKind } from './define-rule';
import { eachContainer, eachWorkload, isServiceContainer } from './visits';

const probes = defineRule({
  name: 'probes',
  summary:
    'every container has liveness and readiness probes; the services probe /health (liveness) and /ready (readiness) on a declared port',
  check({ trees, flag }) {
    for (const { container, at } of eachContainer(trees, { initContainers: false })) {
      for (const [probe, path] of [
        ['livenessProbe', '/health'],
        ['readinessProbe', '/ready'],
      ] as const) {
        const spec = container[probe];
        if (!spec) {
          flag(at, `has no ${probe}: add one`);
          continue;
        }
        if (!isServiceContainer(container)) continue;
        // Our services' contract (docs/architecture.md): liveness checks the process, readiness Redis.
        if (spec.httpGet?.path !== path) {
          flag(
            at,
            `${probe} must be an httpGet on ${path} (docs/architecture.md), not ${JSON.stringify(spec.httpGet?.path ?? spec)}`,
          );
        }
        const port = spec.httpGet?.port;
        const declared = (container.ports ?? []).some((p) => p.name === port || p.containerPort === port);
        if (!declared)
          flag(at, `${probe} targets port ${JSON.stringify(port)}, which the container does not declare`);
      }
    }
  },
});

const workloadHasPdb = defineRule({
  name: 'workload-has-pdb',
  summary: 'every workload is covered by a PodDisruptionBudget',
  check({ trees, flag }) {
    for (const { tree, workload, at } of eachWorkload(trees)) {
      if (matchingObjects(tree, 'PodDisruptionBudget', workload, (p) => p.spec?.selector).length === 0) {
        flag(
          at,
          `no PodDisruptionBudget selects its pods: add one with maxUnavailable: 1 selecting ${JSON.stringify(podLabels(workload))}`,
        );
      }
    }
  },
});

function disruptionsAllowed(pdb: IPodDisruptionBudget, replicas: number): number {
  const resolve = (value: unknown, roundUp: boolean): number => {
    if (typeof value === 'string' && value.endsWith('%')) {
      const share = (Number(value.slice(0, -1)) / 100) * replicas;
      return roundUp ? Math.ceil(share) : Math.floor(share);
    }
    return Number(value);
  };
  if (pdb.spec?.maxUnavailable !== undefined) return resolve(pdb.spec.maxUnavailable, true);
  if (pdb.spec?.minAvailable !== undefined) return replicas - resolve(pdb.spec.minAvailable, true);
  return replicas;
}

const pdbAllowsEviction = defineRule({
  name: 'pdb-allows-eviction',
  summary: "a PodDisruptionBudget never blocks every eviction at the workload's minimum replicas",
  check({ trees, flag }) {
    for (const { tree, object: pdb, at } of eachObjectOfKind(trees, 'PodDisruptionBudget')) {
      for (const workload of workloads(tree).filter((w) =>
        selectorMatches(pdb.spec?.selector, podLabels(w)),
      )) {
        const replicas = minimumReplicas(tree, workload);
        if (disruptionsAllowed(pdb, replicas) < 1) {
          flag(
            at,
            `allows no eviction of ${objectName(workload)} at ${replicas} replica(s), so node drains hang: use maxUnavailable: 1`,
          );
        }
      }
    }
  },
});

const gracefulShutdown = defineRule({
  name: 'graceful-shutdown',
  summary: 'preStop delay + SHUTDOWN_TIMEOUT_MS fits inside terminationGracePeriodSeconds',
  check({ trees, flag }) {
    for (const { tree, workload, container, at } of eachContainer(trees, { initContainers: false })) {
      const timeout = containerEnvValue(tree, container, 'SHUTDOWN_TIMEOUT_MS');
      if (timeout === undefined) continue;
      const grace = podSpec(workload).terminationGracePeriodSeconds ?? 30;
      const preStop = Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
      const needed = preStop + Number(timeout) / 1000;
      if (!(needed < grace)) {
        flag(
          at,
          `needs ${needed}s to stop (preStop ${preStop}s + SHUTDOWN_TIMEOUT_MS ${timeout}) but is killed after terminationGracePeriodSeconds ${grace}s: raise the grace period or shorten the drain`,
        );
      }
    }
  },
});

const topologySpread = defineRule({
  name: 'topology-spread',
  summary: 'replicated Rollouts and Deployments spread across nodes and zones',
  check({ trees, flag }) {
    for (const { object: workload, at } of eachObjectOfKind(trees, 'Rollout', 'Deployment')) {
      const keys = (podSpec(workload).topologySpreadConstraints ?? []).map((c) => c.topologyKey);
      for (const key of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) {
        if (!keys.includes(key)) {
          flag(
            at,
            `has no topologySpreadConstraint on ${key}: one node or zone outage could take every replica`,
          );
        }
      }
    }
  },
});

export const availabilityRules = [
  probes,
  workloadHasPdb,
  pdbAllowsEviction,
  gracefulShutdown,
  topologySpread,
];
