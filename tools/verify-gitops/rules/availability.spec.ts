// Each availability rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { podSpec } from '../../lib/kubernetes';
import { DEV, PROD, STAGING } from './tree-names';
import {
  brokenTrees,
  containerNamed,
  expectViolation,
  present,
  removeObject,
  run,
  testRuleFamily,
} from './broken-trees';
import { availabilityRules } from './availability';

testRuleFamily(availabilityRules, {
  probes: () => {
    const missing = brokenTrees(
      DEV,
      'StatefulSet',
      'redis',
      (o) => delete containerNamed(o, 'redis').readinessProbe,
    );
    expectViolation(run('probes', missing), 'StatefulSet/redis container "redis"', /no readinessProbe/);
    const wrongPath = brokenTrees(STAGING, 'Rollout', 'worker', (o) => {
      present(containerNamed(o, 'worker').readinessProbe?.httpGet, 'worker readinessProbe.httpGet').path =
        '/health';
    });
    expectViolation(
      run('probes', wrongPath),
      'Rollout/worker container "worker"',
      /readinessProbe must be an httpGet on \/ready/,
    );
    const wrongPort = brokenTrees(STAGING, 'Rollout', 'api', (o) => {
      present(containerNamed(o, 'api').livenessProbe?.httpGet, 'api livenessProbe.httpGet').port = 8080;
    });
    expectViolation(
      run('probes', wrongPort),
      'Rollout/api container "api"',
      /port 8080, which the container does not declare/,
    );
  },
  'workload-has-pdb': () => {
    expectViolation(
      run('workload-has-pdb', removeObject(STAGING, 'PodDisruptionBudget', 'worker')),
      'gitops/envs/staging: Rollout/worker',
      /no PodDisruptionBudget selects its pods/,
    );
  },
  'pdb-allows-eviction': () => {
    const trees = brokenTrees(DEV, 'PodDisruptionBudget', 'api', (o) => {
      const spec = present(o.spec, 'api PodDisruptionBudget spec');
      delete spec.maxUnavailable;
      spec.minAvailable = 1;
    });
    expectViolation(
      run('pdb-allows-eviction', trees),
      'gitops/envs/dev: PodDisruptionBudget/api',
      /allows no eviction of Rollout\/api at 1 replica/,
    );
    const percent = brokenTrees(PROD, 'PodDisruptionBudget', 'worker', (o) => {
      present(o.spec, 'worker PodDisruptionBudget spec').maxUnavailable = '0%';
    });
    expectViolation(run('pdb-allows-eviction', percent), 'PodDisruptionBudget/worker', /allows no eviction/);
  },
  'graceful-shutdown': () => {
    const trees = brokenTrees(PROD, 'Rollout', 'api', (o) => {
      podSpec(o).terminationGracePeriodSeconds = 20;
    });
    expectViolation(
      run('graceful-shutdown', trees),
      'Rollout/api container "api"',
      /needs 25s to stop \(preStop 5s \+ SHUTDOWN_TIMEOUT_MS 20000\).*terminationGracePeriodSeconds 20s/,
    );
  },
  'topology-spread': () => {
    const trees = brokenTrees(PROD, 'Rollout', 'api', (o) => {
      const pod = podSpec(o);
      pod.topologySpreadConstraints = pod.topologySpreadConstraints?.filter(
        (c) => c.topologyKey !== 'topology.kubernetes.io/zone',
      );
    });
    expectViolation(
      run('topology-spread', trees),
      'gitops/envs/prod: Rollout/api',
      /topology.kubernetes.io\/zone/,
    );
  },
});
