// Each Redis HA rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject, RenderedTree } from '../model';
import { ARGOCD, PROD } from './tree-names';
import { breakObject, expectViolation, rendered, run, testRuleFamily } from './broken-trees';
import { redisHaRules } from './redis-ha';

function prodObject(trees: RenderedTree[], kind: string, namePrefix: string): K8sObject {
  const tree = trees.find((t) => t.source === PROD) as RenderedTree;
  return tree.objects.find((o) => o.kind === kind && o.metadata.name.startsWith(namePrefix)) as K8sObject;
}

testRuleFamily(redisHaRules, {
  'redis-ha-failover': () => {
    // Two sentinels with quorum 1 and one replica: one sentinel alone could fail over, and no replica would be
    // left to promote after a second loss.
    const trees = structuredClone(rendered);
    prodObject(trees, 'RedisSentinel', 'redis').spec.clusterSize = 2;
    prodObject(trees, 'RedisSentinel', 'redis').spec.redisSentinelConfig.quorum = '1';
    prodObject(trees, 'RedisReplication', 'redis').spec.clusterSize = 2;
    const config = prodObject(trees, 'ConfigMap', 'redis-ha-config-');
    config.data['redis-additional.conf'] = config.data['redis-additional.conf'].replace(
      /^min-replicas-to-write .*$/m,
      '',
    );
    const apiConfig = prodObject(trees, 'ConfigMap', 'api-config-');
    apiConfig.data.REDIS_REPLICA_ACKS = '0';
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
    prodObject(standalone, 'ConfigMap', 'worker-config-').data.REDIS_MODE = 'standalone';
    expectViolation(run('redis-ha-failover', standalone), 'Rollout/worker', /lacks REDIS_MODE=sentinel/);
  },
  'redis-ha-placement': () => {
    const trees = breakObject(PROD, 'RedisReplication', 'redis', (o) => {
      delete o.spec.topologySpreadConstraints;
      o.spec.redisExporter.enabled = false;
    });
    const violations = run('redis-ha-placement', trees);
    expectViolation(
      violations,
      'RedisReplication/redis',
      /topology.kubernetes.io\/zone: two copies in one zone/,
    );
    expectViolation(violations, 'RedisReplication/redis', /redisExporter.enabled must be true/);
    // A sentinel without its PDB and NetworkPolicy, and with a label nothing else selects.
    const unguarded = breakObject(PROD, 'RedisSentinel', 'redis', (o) => {
      o.metadata.labels['app.kubernetes.io/name'] = 'sentinels';
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
    const trees = breakObject(PROD, 'RedisReplication', 'redis', (o) => {
      o.spec.kubernetesConfig.image = 'quay.io/opstree/redis:latest';
    });
    expectViolation(
      run('redis-ha-pinned', trees),
      'RedisReplication/redis',
      /runs quay.io\/opstree\/redis:latest, not quay.io\/opstree\/redis:v7.0.15/,
    );
    const moved = breakObject(ARGOCD, 'Application', 'redis-operator', (o) => {
      o.spec.source.targetRevision = 'master';
    });
    expectViolation(run('redis-ha-pinned', moved), 'Application/redis-operator', /@master; the ledger read/);
  },
});
