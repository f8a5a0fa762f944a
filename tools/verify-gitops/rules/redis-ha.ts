// Redis high availability as the redis-operator runs it (gitops/envs/prod/redis): enough copies and sentinels to
// survive a node or a zone, a failover that cannot lose an acknowledged job, and the services pointed at it.
import type { IAffinity } from 'kubernetes-models/v1/Affinity';
import type { ITopologySpreadConstraint } from 'kubernetes-models/v1/TopologySpreadConstraint';
import {
  containerEnvValue,
  containersOf,
  type KubernetesObject,
  objectName,
  ofKind,
  selectorMatches,
} from '../../lib/kubernetes';
import { parseCount, type RenderedTree, where } from '../model';
import { type UpstreamLedger } from '../upstream';
import { argocdTrees, eachObjectOfKind, envTrees } from './define-rule';
import { behaviourData, defineLedgerRule } from './ledger';

const REPLICATION = 'RedisReplication';
const SENTINEL = 'RedisSentinel';
export type OperatorKind = typeof REPLICATION | typeof SENTINEL;

/**
 * The fields of the redis-operator's RedisReplication and RedisSentinel (redis.redis.opstreelabs.in/v1beta2) these
 * rules read, as the upstream CRDs define them (crd-schemas/redis.redis.opstreelabs.in_v1beta2_*.json). No
 * kubernetes-models package ships these kinds; the schema check validates every such object against those CRDs,
 * as it does the packaged kinds against theirs.
 */
export interface OperatorResource extends KubernetesObject {
  kind: OperatorKind;
  spec: {
    clusterSize: number;
    kubernetesConfig: { image: string };
    redisExporter?: { enabled?: boolean };
    /** RedisReplication only. */
    redisConfig?: { additionalRedisConfig?: string };
    /** RedisSentinel only. */
    redisSentinelConfig?: { redisReplicationName: string; quorum?: string; masterGroupName?: string };
    affinity?: IAffinity;
    topologySpreadConstraints?: ITopologySpreadConstraint[];
  };
}

function isOperated(object: KubernetesObject, kinds: OperatorKind[]): object is OperatorResource {
  return (kinds as string[]).includes(object.kind);
}

/** The tree's objects of the operator's `kinds`. */
export function operated(tree: RenderedTree, ...kinds: OperatorKind[]): OperatorResource[] {
  return tree.objects.filter((object): object is OperatorResource => isOperated(object, kinds));
}

/** Each object of the operator's `kinds` in the trees, with `at` to flag it by. */
function* eachOperated(
  trees: RenderedTree[],
  ...kinds: OperatorKind[]
): Generator<{ tree: RenderedTree; resource: OperatorResource; at: string }> {
  for (const tree of trees) {
    for (const resource of operated(tree, ...kinds)) yield { tree, resource, at: where(tree, resource) };
  }
}

function sentinelsOf(tree: RenderedTree, replication: OperatorResource): OperatorResource[] {
  return operated(tree, SENTINEL).filter(
    (sentinel) => sentinel.spec.redisSentinelConfig?.redisReplicationName === replication.metadata?.name,
  );
}

/** The operator's extra redis.conf of a RedisReplication (spec.redisConfig.additionalRedisConfig). */
function additionalConfig(
  ledger: UpstreamLedger,
  tree: RenderedTree,
  replication: OperatorResource,
): string | undefined {
  const name = replication.spec.redisConfig?.additionalRedisConfig;
  const { key } = behaviourData(ledger, 'redis-operator-additional-config-key');
  const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === name);
  return configMap?.data?.[key];
}

function directive(conf: string, name: string): string | undefined {
  return conf
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.toLowerCase().startsWith(`${name} `))
    .pop()
    ?.slice(name.length)
    .trim();
}

const redisHaFailover = defineLedgerRule({
  name: 'redis-ha-failover',
  summary:
    'a RedisReplication has 3+ copies under an odd number (3+) of sentinels with a majority quorum, refuses writes without a replica (min-replicas-to-write), and the api and worker reach it through those sentinels, the api acknowledging only replicated submissions',
  check({ ledger, trees, flag }) {
    for (const { tree, resource: replication, at } of eachOperated(envTrees(trees), REPLICATION)) {
      if (parseCount(replication.spec.clusterSize) < 3)
        flag(
          at,
          `clusterSize ${replication.spec.clusterSize}: a primary and at least two replicas, so one lost node still leaves a replica to promote and one to acknowledge writes`,
        );
      const conf = additionalConfig(ledger, tree, replication);
      if (conf === undefined) {
        flag(
          at,
          'names no additionalRedisConfig ConfigMap with redis-additional.conf: without one the operator runs Redis without maxmemory, noeviction or min-replicas-to-write',
        );
      } else {
        if (!(parseCount(directive(conf, 'min-replicas-to-write')) >= 1))
          flag(
            at,
            'redis-additional.conf must set min-replicas-to-write 1 (with min-replicas-max-lag): a primary cut off from its replicas would otherwise keep taking writes the failover on the other side discards',
          );
        if (directive(conf, 'maxmemory-policy') !== 'noeviction')
          flag(
            at,
            'redis-additional.conf must set maxmemory-policy noeviction: an evicting Redis deletes job keys',
          );
      }
      const sentinels = sentinelsOf(tree, replication);
      if (sentinels.length === 0) {
        flag(
          at,
          `no RedisSentinel watches it (redisSentinelConfig.redisReplicationName: ${replication.metadata?.name}): nothing would promote a replica`,
        );
        continue;
      }
      for (const sentinel of sentinels) {
        const size = parseCount(sentinel.spec.clusterSize);
        const quorum = parseCount(sentinel.spec.redisSentinelConfig?.quorum);
        if (!(size >= 3 && size % 2 === 1))
          flag(
            where(tree, sentinel),
            `clusterSize ${sentinel.spec.clusterSize}: an odd number of at least 3 sentinels, so a majority survives one lost node`,
          );
        if (quorum !== Math.floor(size / 2) + 1)
          flag(
            where(tree, sentinel),
            `quorum ${sentinel.spec.redisSentinelConfig?.quorum} with ${size} sentinels: use the majority, ${Math.floor(size / 2) + 1} (lower lets a minority declare the primary down, higher lets one lost sentinel block every failover)`,
          );
      }
      const masterName = sentinels[0].spec.redisSentinelConfig?.masterGroupName;
      for (const workload of ofKind(tree, 'Rollout').filter((r) =>
        ['api', 'worker'].includes(r.metadata?.name ?? ''),
      )) {
        const [{ container }] = containersOf(workload);
        const value = (variable: string) => containerEnvValue(tree, container, variable);
        const problems: string[] = [];
        if (value('REDIS_MODE') !== 'sentinel') problems.push('REDIS_MODE=sentinel');
        if (value('REDIS_SENTINEL_MASTER_NAME') !== masterName)
          problems.push(`REDIS_SENTINEL_MASTER_NAME=${masterName} (the sentinels' masterGroupName)`);
        if (!(container.env ?? []).some((e) => e.name === 'REDIS_SENTINEL_PASSWORD'))
          problems.push("REDIS_SENTINEL_PASSWORD from the sentinels' Secret");
        if (workload.metadata?.name === 'api' && !(parseCount(value('REDIS_REPLICA_ACKS')) >= 1))
          problems.push('REDIS_REPLICA_ACKS=1 (a 202 only for a job a replica has)');
        if (problems.length > 0)
          flag(
            where(tree, workload),
            `runs beside the RedisReplication ${replication.metadata?.name} but lacks ${problems.join(', ')}`,
          );
      }
    }
  },
});

/** The pod labels the operator gives a RedisReplication's or RedisSentinel's pods: the resource's own labels. */
function operatorPodLabels(resource: OperatorResource): Record<string, string> {
  return resource.metadata?.labels ?? {};
}

function spreadsAcross(resource: OperatorResource, topologyKey: string): boolean {
  const labels = operatorPodLabels(resource);
  const required =
    resource.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const spread = resource.spec.topologySpreadConstraints ?? [];
  return (
    required.some(
      (term) => term.topologyKey === topologyKey && selectorMatches(term.labelSelector, labels),
    ) ||
    spread.some(
      (constraint) =>
        constraint.topologyKey === topologyKey &&
        constraint.whenUnsatisfiable === 'DoNotSchedule' &&
        selectorMatches(constraint.labelSelector, labels),
    )
  );
}

const redisHaPlacement = defineLedgerRule({
  name: 'redis-ha-placement',
  summary:
    'RedisReplication and RedisSentinel pods spread over nodes and zones, each with a PDB, a NetworkPolicy and exporter metrics scraped by a PodMonitor',
  check({ ledger, trees, flag }) {
    const { portName: exporterPort } = behaviourData(ledger, 'redis-operator-exporter-port');
    for (const { tree, resource, at } of eachOperated(envTrees(trees), REPLICATION, SENTINEL)) {
      const labels = operatorPodLabels(resource);
      if (!labels['app.kubernetes.io/name'])
        flag(
          at,
          'has no app.kubernetes.io/name label: the operator copies it to the pods, which PDBs and NetworkPolicies select by',
        );
      if (!spreadsAcross(resource, 'kubernetes.io/hostname'))
        flag(
          at,
          'needs a required pod anti-affinity (or DoNotSchedule spread) on kubernetes.io/hostname: two copies on one node fail together',
        );
      if (!spreadsAcross(resource, 'topology.kubernetes.io/zone'))
        flag(
          at,
          'needs a required pod anti-affinity or DoNotSchedule spread on topology.kubernetes.io/zone: two copies in one zone fail together',
        );
      if (!ofKind(tree, 'PodDisruptionBudget').some((pdb) => selectorMatches(pdb.spec?.selector, labels)))
        flag(at, 'no PodDisruptionBudget selects its pods: a drain could take two at once');
      if (!ofKind(tree, 'NetworkPolicy').some((policy) => selectorMatches(policy.spec?.podSelector, labels)))
        flag(at, 'no NetworkPolicy selects its pods: anything in the cluster could reach Redis');
      if (resource.spec.redisExporter?.enabled !== true)
        flag(at, 'redisExporter.enabled must be true: the Redis HA alerts read its metrics');
      else if (
        !ofKind(tree, 'PodMonitor').some(
          (monitor) =>
            selectorMatches(monitor.spec?.selector, labels) &&
            (monitor.spec?.podMetricsEndpoints ?? []).some((e) => e.port === exporterPort),
        )
      )
        flag(
          at,
          `no PodMonitor scrapes its exporter (port ${exporterPort}): the Redis HA alerts would see nothing`,
        );
    }
  },
});

const redisHaPinned = defineLedgerRule({
  name: 'redis-ha-pinned',
  summary:
    'the redis-operator Application and the Redis and sentinel images are the versions the upstream ledger records',
  check({ ledger, trees, flag }) {
    const expected: Record<string, string> = {
      [REPLICATION]: `${ledger.images['redis-ha-server'].image}:${ledger.images['redis-ha-server'].tag}`,
      [SENTINEL]: `${ledger.images['redis-ha-sentinel'].image}:${ledger.images['redis-ha-sentinel'].tag}`,
    };
    for (const { resource, at } of eachOperated(envTrees(trees), REPLICATION, SENTINEL)) {
      const image = resource.spec.kubernetesConfig?.image;
      if (image !== expected[resource.kind])
        flag(
          at,
          `runs ${image}, not ${expected[resource.kind]} (tools/verify-gitops/upstream.yaml, redis): bump both together after reading the new tag`,
        );
    }
    const operator = ledger.images['redis-operator'];
    for (const { object: application, at } of eachObjectOfKind(argocdTrees(trees), 'Application')) {
      if (application.metadata?.name !== 'redis-operator') continue;
      const source = application.spec.source;
      if (
        source?.repoURL !== `https://github.com/${operator.source.repository}.git` ||
        source.targetRevision !== operator.source.tag
      )
        flag(
          at,
          `installs ${source?.repoURL}@${source?.targetRevision}; the ledger read ${operator.source.repository}@${operator.source.tag} (${objectName(application)} must be what was read upstream)`,
        );
    }
  },
});

export const redisHaRules = [redisHaFailover, redisHaPlacement, redisHaPinned];
