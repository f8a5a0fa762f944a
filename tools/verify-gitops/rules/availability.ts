// What keeps a service answering through restarts, drains and outages: probes, PodDisruptionBudgets that
// still let nodes drain, spread across nodes and zones, and a drain that fits the grace period.
import { IMAGE_REPOSITORY } from '../../lib/gitops';
import {
  containerEnvValue,
  type K8sObject,
  matchingObjects,
  minimumReplicas,
  objectName,
  ofKind,
  podLabels,
  podSpec,
  selectorMatches,
  where,
  workloads,
} from '../model';
import { defineRule } from './define-rule';

const probes = defineRule({
  name: 'probes',
  summary:
    'every container has liveness and readiness probes; the services probe /health (liveness) and /ready (readiness) on a declared port',
  check({ trees, flag }) {
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        for (const container of podSpec(workload).containers ?? []) {
          const label = `container "${container.name}"`;
          const report = (message: string) => flag(where(tree, workload, label), message);
          for (const [probe, path] of [
            ['livenessProbe', '/health'],
            ['readinessProbe', '/ready'],
          ] as const) {
            const spec = container[probe];
            if (!spec) {
              report(`has no ${probe}: add one`);
              continue;
            }
            if (!String(container.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`)) continue;
            // Our services' contract (docs/architecture.md): liveness checks the process, readiness Redis.
            if (spec.httpGet?.path !== path) {
              report(
                `${probe} must be an httpGet on ${path} (docs/architecture.md), not ${JSON.stringify(spec.httpGet?.path ?? spec)}`,
              );
            }
            const port = spec.httpGet?.port;
            const declared = (container.ports ?? []).some(
              (p: K8sObject) => p.name === port || p.containerPort === port,
            );
            if (!declared)
              report(`${probe} targets port ${JSON.stringify(port)}, which the container does not declare`);
          }
        }
      }
    }
  },
});

const workloadHasPdb = defineRule({
  name: 'workload-has-pdb',
  summary: 'every workload is covered by a PodDisruptionBudget',
  check({ trees, flag }) {
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        if (matchingObjects(tree, 'PodDisruptionBudget', workload, (p) => p.spec?.selector).length === 0) {
          flag(
            where(tree, workload),
            `no PodDisruptionBudget selects its pods: add one with maxUnavailable: 1 selecting ${JSON.stringify(podLabels(workload))}`,
          );
        }
      }
    }
  },
});

function disruptionsAllowed(pdb: K8sObject, replicas: number): number {
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
    for (const tree of trees) {
      for (const pdb of ofKind(tree, 'PodDisruptionBudget')) {
        for (const workload of workloads(tree).filter((w) =>
          selectorMatches(pdb.spec?.selector, podLabels(w)),
        )) {
          const replicas = minimumReplicas(tree, workload);
          if (disruptionsAllowed(pdb, replicas) < 1) {
            flag(
              where(tree, pdb),
              `allows no eviction of ${objectName(workload)} at ${replicas} replica(s), so node drains hang: use maxUnavailable: 1`,
            );
          }
        }
      }
    }
  },
});

const gracefulShutdown = defineRule({
  name: 'graceful-shutdown',
  summary: 'preStop delay + SHUTDOWN_TIMEOUT_MS fits inside terminationGracePeriodSeconds',
  check({ trees, flag }) {
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        const grace = podSpec(workload).terminationGracePeriodSeconds ?? 30;
        for (const container of podSpec(workload).containers ?? []) {
          const timeout = containerEnvValue(tree, container, 'SHUTDOWN_TIMEOUT_MS');
          if (timeout === undefined) continue;
          const preStop = Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
          const needed = preStop + Number(timeout) / 1000;
          if (!(needed < grace)) {
            flag(
              where(tree, workload, `container "${container.name}"`),
              `needs ${needed}s to stop (preStop ${preStop}s + SHUTDOWN_TIMEOUT_MS ${timeout}) but is killed after terminationGracePeriodSeconds ${grace}s: raise the grace period or shorten the drain`,
            );
          }
        }
      }
    }
  },
});

const topologySpread = defineRule({
  name: 'topology-spread',
  summary: 'replicated Rollouts and Deployments spread across nodes and zones',
  check({ trees, flag }) {
    for (const tree of trees) {
      for (const workload of ofKind(tree, 'Rollout', 'Deployment')) {
        const keys = (podSpec(workload).topologySpreadConstraints ?? []).map((c: K8sObject) => c.topologyKey);
        for (const key of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) {
          if (!keys.includes(key)) {
            flag(
              where(tree, workload),
              `has no topologySpreadConstraint on ${key}: one node or zone outage could take every replica`,
            );
          }
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
