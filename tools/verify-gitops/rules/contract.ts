// Names other parts of the repository rely on: the Services, workloads and labels docs/architecture.md
// promises in every env.
import { type KubernetesObject, ofKind, podLabels, type WORKLOAD_KINDS } from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { defineRule, envTrees } from './define-rule';

type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Names other parts rely on (docs/architecture.md, "Kubernetes names"), per env. */
export const CONTRACT = {
  services: ['api', 'api-canary', 'worker', 'redis'],
  workloads: { api: 'Rollout', worker: 'Rollout', redis: 'StatefulSet' } satisfies Record<
    string,
    WorkloadKind
  >,
  partOf: 'opsforge',
};

/**
 * A RedisReplication named `redis` stands for the StatefulSet and the Service `redis`: the operator creates both
 * under its name (tools/verify-gitops/upstream.yaml, redis-operator-replication-names), with its labels on the pods.
 */
function operatorRunsRedis(tree: RenderedTree, name: string): KubernetesObject | undefined {
  return ofKind(tree, 'RedisReplication').find((r) => r.metadata?.name === name);
}

const contractNames = defineRule({
  name: 'contract-names',
  summary:
    'each env renders the Services and workloads docs/architecture.md names, labelled app.kubernetes.io/name and part-of opsforge',
  check({ trees, flag }) {
    for (const tree of envTrees(trees)) {
      const report = (message: string) => flag(tree.source, message);
      for (const name of CONTRACT.services) {
        if (
          !ofKind(tree, 'Service').some((s) => s.metadata?.name === name) &&
          !operatorRunsRedis(tree, name)
        ) {
          report(
            `renders no Service "${name}", which docs/architecture.md promises (the HTTPRoute, clients or the analysis rely on it)`,
          );
        }
      }
      for (const [name, kind] of Object.entries(CONTRACT.workloads)) {
        const operated = operatorRunsRedis(tree, name);
        const workload = ofKind(tree, kind).find((w) => w.metadata?.name === name);
        if (!workload && operated) {
          const labels = operated.metadata?.labels ?? {};
          if (
            labels['app.kubernetes.io/name'] !== name ||
            labels['app.kubernetes.io/part-of'] !== CONTRACT.partOf
          )
            flag(
              where(tree, operated),
              `must be labelled app.kubernetes.io/name: ${name} and app.kubernetes.io/part-of: ${CONTRACT.partOf} (the operator copies them to the pods)`,
            );
          continue;
        }
        if (!workload) {
          report(`renders no ${kind} "${name}"`);
          continue;
        }
        const labels = podLabels(workload);
        if (
          labels['app.kubernetes.io/name'] !== name ||
          labels['app.kubernetes.io/part-of'] !== CONTRACT.partOf
        ) {
          flag(
            where(tree, workload),
            `pods must be labelled app.kubernetes.io/name: ${name} and app.kubernetes.io/part-of: ${CONTRACT.partOf} (dashboards, alerts and NetworkPolicies select them by these)`,
          );
        }
      }
      if (tree.env && ofKind(tree, 'Rollout').some((r) => r.metadata?.namespace !== tree.env)) {
        report(
          `its objects must live in namespace "${tree.env}" (the folder name is the namespace): set namespace: ${tree.env} in its kustomization.yaml`,
        );
      }
    }
  },
});

export const contractRules = [contractNames];
