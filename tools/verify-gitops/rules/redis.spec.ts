// Each redis rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject, RenderedTree } from '../model';
import { DEV, STAGING } from './tree-names';
import { breakObject, container, expectViolation, rendered, run, testRuleFamily } from './broken-trees';
import { redisRules } from './redis';

testRuleFamily(redisRules, {
  'redis-memory-headroom': () => {
    // The sizes before this rule: maxmemory 200mb in a 320Mi container.
    const tight = breakObject(STAGING, 'StatefulSet', 'redis', (o) => {
      container(o, 'redis').resources.limits.memory = '320Mi';
    });
    expectViolation(
      run('redis-memory-headroom', tight),
      'gitops/envs/staging: StatefulSet/redis container "redis"',
      /limits memory 320Mi, under twice maxmemory 256mb/,
    );
    const trees = structuredClone(rendered);
    const dev = trees.find((t) => t.source === DEV) as RenderedTree;
    const config = dev.objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('redis-config-'),
    ) as K8sObject;
    config.data['redis.conf'] = config.data['redis.conf']
      .replace(/^maxmemory .*$/m, 'maxmemory 1gb')
      .replace(/^maxmemory-policy .*$/m, 'maxmemory-policy allkeys-lru');
    const violations = run('redis-memory-headroom', trees);
    expectViolation(
      violations,
      'StatefulSet/redis container "redis"',
      /requests memory 320Mi, less than maxmemory 1gb/,
    );
    expectViolation(violations, 'StatefulSet/redis container "redis"', /maxmemory-policy noeviction/);
    config.data['redis.conf'] = config.data['redis.conf'].replace(/^maxmemory .*$/m, '');
    expectViolation(run('redis-memory-headroom', trees), 'StatefulSet/redis', /sets no maxmemory/);
  },
});
