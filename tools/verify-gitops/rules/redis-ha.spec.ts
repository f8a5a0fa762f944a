// Each Redis HA rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { RenderedTree } from '../model';
import { PROD } from './tree-names';
import {
  expectViolation,
  generatedConfigData,
  present,
  rendered,
  run,
  testRuleFamily,
  withSourceRevision,
} from './broken-trees';
import { operated, type OperatorKind, type OperatorResource, redisHaRules } from './redis-ha';

/** The prod RedisReplication or RedisSentinel `redis` of `trees`, typed as the rules read it. */
function prodRedis(trees: RenderedTree[], kind: OperatorKind): OperatorResource {
  const prod = present(
    trees.find((t) => t.source === PROD),
    PROD,
  );
  return present(
    operated(prod, kind).find((r) => r.metadata?.name === 'redis'),
    `${PROD} ${kind}/redis`,
  );
}

/** A copy of the rendered trees with the prod `kind` redis changed by `mutate`. */
function breakRedis(kind: OperatorKind, mutate: (resource: OperatorResource) => void): RenderedTree[] {
  const trees = structuredClone(rendered);
  mutate(prodRedis(trees, kind));
  return trees;
}

testRuleFamily(redisHaRules, {
  'redis-ha-failover': () => {
    // Two sentinels with quorum 1 and one replica: one sentinel alone could fail over, and no replica would be
    // left to promote after a second loss.
    const trees = structuredClone(rendered);
    const sentinel = prodRedis(trees, 'RedisSentinel');
    sentinel.spec.clusterSize = 2;
    present(sentinel.spec.redisSentinelConfig, 'redisSentinelConfig').quorum = '1';
    prodRedis(trees, 'RedisReplication').spec.clusterSize = 2;
    const config = generatedConfigData(trees, PROD, 'redis-ha-config-');
    config['redis-additional.conf'] = config['redis-additional.conf'].replace(
      /^min-replicas-to-write .*$/m,
      '',
    );
    generatedConfigData(trees, PROD, 'api-config-').REDIS_REPLICA_ACKS = '0';
    const violations = run('redis-ha-failover', trees);
    expectViolation(
      violations,
      'gitops/envs/prod: RedisReplication/redis',
      /clusterSize 2: a primary and at least two/,
    );
    expectViolation(violations, 'RedisReplication/redis', /min-replicas-to-write 1/);
    expectViolation(violations, 'RedisSentinel/redis', /an odd number of at least 3 sentinels/);
    expectViolation(violations, 'RedisSentinel/redis', /quorum 1 with 2 sentinels: use the majority, 2/);
    expectViolation(violations, 'Rollout/api', /REDIS_REPLICA_ACKS=1/);
    // Services left on the single Redis's URL.
    const standalone = structuredClone(rendered);
    generatedConfigData(standalone, PROD, 'worker-config-').REDIS_MODE = 'standalone';
    expectViolation(run('redis-ha-failover', standalone), 'Rollout/worker', /lacks REDIS_MODE=sentinel/);
  },
  'redis-ha-placement': () => {
    const trees = breakRedis('RedisReplication', ({ spec }) => {
      delete spec.topologySpreadConstraints;
      present(spec.redisExporter, 'redisExporter').enabled = false;
    });
    const violations = run('redis-ha-placement', trees);
    expectViolation(
      violations,
      'RedisReplication/redis',
      /topology.kubernetes.io\/zone: two copies in one zone/,
    );
    expectViolation(violations, 'RedisReplication/redis', /redisExporter.enabled must be true/);
    // A sentinel without its PDB and NetworkPolicy, and with a label nothing else selects.
    const unguarded = breakRedis('RedisSentinel', ({ metadata }) => {
      present(metadata?.labels, 'sentinel labels')['app.kubernetes.io/name'] = 'sentinels';
    });
    const unguardedViolations = run('redis-ha-placement', unguarded);
    expectViolation(unguardedViolations, 'RedisSentinel/redis', /no PodDisruptionBudget selects its pods/);
    expectViolation(unguardedViolations, 'RedisSentinel/redis', /no NetworkPolicy selects its pods/);
    expectViolation(
      unguardedViolations,
      'RedisSentinel/redis',
      /kubernetes.io\/hostname: two copies on one node/,
    );
  },
  'redis-ha-pinned': () => {
    const unpinned = breakRedis('RedisReplication', ({ spec }) => {
      spec.kubernetesConfig.image = 'quay.io/opstree/redis:latest';
    });
    expectViolation(
      run('redis-ha-pinned', unpinned),
      'RedisReplication/redis',
      /runs quay.io\/opstree\/redis:latest, not quay.io\/opstree\/redis:v7.0.15/,
    );
    expectViolation(
      run('redis-ha-pinned', withSourceRevision('redis-operator', 'master')),
      'Application/redis-operator',
      /@master; the ledger read/,
    );
  },
});
