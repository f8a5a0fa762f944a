// Requests, limits and autoscaling sized from what the services were measured to use.
import {
  declaredReplicas,
  objectName,
  parseQuantity,
  podSpec,
  type PodTemplateOwner,
  workloads,
} from '../../lib/kubernetes';
import { defineRule, eachObjectOfKind } from './define-rule';
import { eachContainer, isServiceContainer } from './visits';

/**
 * Resident memory of our Node services as measured (docs/gitops.md, "Sizing"): the idle footprint after
 * start-up and the peak under load. A memory request below the idle footprint misplaces the pod and trips a
 * memory HPA at rest; a limit below the peak (with headroom) gets the process OOM-killed under load.
 */
export const SERVICE_MEMORY_MIB = { idle: 150, peak: 290 } as const;
/** Headroom of the memory limit over the measured peak (GC timing, larger payloads, a busier node). */
const MEMORY_LIMIT_HEADROOM = 1.3;
const MIB = 1024 * 1024;

const resources = defineRule({
  name: 'resources',
  summary:
    'every container sets cpu and memory requests and limits, requests not above limits; the services at least their measured idle memory (request) and peak with headroom (limit)',
  check({ trees, flag }) {
    for (const { container, at } of eachContainer(trees)) {
      for (const resource of ['cpu', 'memory']) {
        const request = container.resources?.requests?.[resource];
        const limit = container.resources?.limits?.[resource];
        if (request === undefined) flag(at, `has no resources.requests.${resource}: set one`);
        if (limit === undefined) flag(at, `has no resources.limits.${resource}: set one`);
        if (request !== undefined && limit !== undefined && parseQuantity(request) > parseQuantity(limit)) {
          flag(
            at,
            `requests ${resource} ${request} above its limit ${limit}: lower the request or raise the limit`,
          );
        }
      }
      if (!isServiceContainer(container)) continue;
      const memoryRequest = container.resources?.requests?.memory;
      const memoryLimit = container.resources?.limits?.memory;
      if (memoryRequest !== undefined && parseQuantity(memoryRequest) < SERVICE_MEMORY_MIB.idle * MIB) {
        flag(
          at,
          `requests memory ${memoryRequest}, below the service's measured idle footprint of ${SERVICE_MEMORY_MIB.idle} MiB: raise it`,
        );
      }
      const neededLimit = Math.ceil(SERVICE_MEMORY_MIB.peak * MEMORY_LIMIT_HEADROOM);
      if (memoryLimit !== undefined && parseQuantity(memoryLimit) < neededLimit * MIB) {
        flag(
          at,
          `limits memory ${memoryLimit}, under ${neededLimit} MiB (measured peak ${SERVICE_MEMORY_MIB.peak} MiB + ${Math.round((MEMORY_LIMIT_HEADROOM - 1) * 100)}%): the process would be OOM-killed under load; raise it`,
        );
      }
    }
  },
});

const hpaConsistent = defineRule({
  name: 'hpa-consistent',
  summary:
    "every HPA targets an existing workload, its floor equals the workload's replicas, it scales on cpu and memory",
  check({ trees, flag }) {
    for (const { tree, object: hpa, at } of eachObjectOfKind(trees, 'HorizontalPodAutoscaler')) {
      const target = hpa.spec?.scaleTargetRef;
      const workload = workloads(tree).find(
        (w) =>
          w.kind === target?.kind && w.metadata?.name === target.name && w.apiVersion === target.apiVersion,
      );
      if (!workload) {
        flag(
          at,
          `scaleTargetRef ${target?.apiVersion} ${target?.kind}/${target?.name} matches no workload in ${tree.source}: fix apiVersion, kind or name`,
        );
        continue;
      }
      const floor = hpa.spec?.minReplicas ?? 1;
      const replicas = declaredReplicas(workload) ?? 1;
      if (floor !== replicas) {
        flag(
          at,
          `minReplicas ${floor} differs from ${objectName(workload)} replicas ${replicas}: set both to the env's replica count`,
        );
      }
      if ((hpa.spec?.maxReplicas ?? 0) < floor)
        flag(at, `maxReplicas ${hpa.spec?.maxReplicas} is below minReplicas ${floor}`);
      const scaledOn = (hpa.spec?.metrics ?? [])
        .filter((m) => m.type === 'Resource')
        .map((m) => m.resource?.name);
      for (const resource of ['cpu', 'memory']) {
        if (!scaledOn.includes(resource))
          flag(at, `does not scale on ${resource}: add a Resource metric for it`);
      }
      // A Node process does not give memory back: a memory target its idle footprint already meets keeps
      // the HPA at maxReplicas for good.
      const memoryTarget = (hpa.spec?.metrics ?? []).find(
        (m) => m.type === 'Resource' && m.resource?.name === 'memory',
      )?.resource?.target;
      const serviceContainers = (podSpec(workload).containers ?? []).filter(isServiceContainer);
      // A Utilization target without averageUtilization sets no threshold to compare.
      const utilization = memoryTarget?.type === 'Utilization' ? memoryTarget.averageUtilization : undefined;
      if (utilization !== undefined && serviceContainers.length > 0) {
        const request = totalRequest(workload, 'memory');
        const threshold = (request * utilization) / 100;
        if (threshold <= SERVICE_MEMORY_MIB.idle * MIB * serviceContainers.length) {
          flag(
            at,
            `scales out at ${utilization}% of a ${Math.round(request / MIB)} MiB memory request = ${Math.round(threshold / MIB)} MiB, which the service's measured idle footprint (${SERVICE_MEMORY_MIB.idle} MiB) already reaches: raise the request or the target`,
          );
        }
      }
    }
  },
});

export function totalRequest(workload: PodTemplateOwner, resource: string): number {
  return (podSpec(workload).containers ?? []).reduce(
    (sum, c) => sum + parseQuantity(c.resources?.requests?.[resource]),
    0,
  );
}

export const sizingRules = [resources, hpaConsistent];
