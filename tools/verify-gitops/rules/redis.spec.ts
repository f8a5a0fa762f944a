// Each redis rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, STAGING } from './tree-names';
import {
  brokenTrees,
  containerNamed,
  expectViolation,
  generatedConfigData,
  present,
  rendered,
  run,
  testRuleFamily,
} from './broken-trees';
import { redisRules } from './redis';

testRuleFamily(redisRules, {
  'redis-memory-headroom': () => {
    // The sizes before this rule: maxmemory 200mb in a 320Mi container.
    const tight = brokenTrees(STAGING, 'StatefulSet', 'redis', (o) => {
      present(containerNamed(o, 'redis').resources?.limits, 'redis limits').memory = '320Mi';
    });
    expectViolation(
      run('redis-memory-headroom', tight),
      'gitops/envs/staging: StatefulSet/redis container "redis"',
      /limits memory 320Mi, under twice maxmemory 256mb/,
    );
    const trees = structuredClone(rendered);
    const data = generatedConfigData(trees, DEV, 'redis-config-');
    data['redis.conf'] = data['redis.conf']
      .replace(/^maxmemory .*$/m, 'maxmemory 1gb')
      .replace(/^maxmemory-policy .*$/m, 'maxmemory-policy allkeys-lru');
    const violations = run('redis-memory-headroom', trees);
    expectViolation(
      violations,
      'StatefulSet/redis container "redis"',
      /requests memory 320Mi, less than maxmemory 1gb/,
    );
    expectViolation(violations, 'StatefulSet/redis container "redis"', /maxmemory-policy noeviction/);
    data['redis.conf'] = data['redis.conf'].replace(/^maxmemory .*$/m, '');
    expectViolation(run('redis-memory-headroom', trees), 'StatefulSet/redis', /sets no maxmemory/);
  },
});
