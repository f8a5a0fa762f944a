// Each availability rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { DEV, PROD, STAGING } from './tree-names';
import { breakObject, container, expectViolation, removeObject, run, testRuleFamily } from './broken-trees';
import { availabilityRules } from './availability';

testRuleFamily(availabilityRules, {
  probes: () => {
    const missing = breakObject(
      DEV,
      'StatefulSet',
      'redis',
      (o) => delete container(o, 'redis').readinessProbe,
    );
    expectViolation(run('probes', missing), 'StatefulSet/redis container "redis"', /no readinessProbe/);
    const wrongPath = breakObject(STAGING, 'Rollout', 'worker', (o) => {
      container(o, 'worker').readinessProbe.httpGet.path = '/health';
    });
    expectViolation(
      run('probes', wrongPath),
      'Rollout/worker container "worker"',
      /readinessProbe must be an httpGet on \/ready/,
    );
    const wrongPort = breakObject(STAGING, 'Rollout', 'api', (o) => {
      container(o, 'api').livenessProbe.httpGet.port = 8080;
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
    const trees = breakObject(DEV, 'PodDisruptionBudget', 'api', (o) => {
      delete o.spec.maxUnavailable;
      o.spec.minAvailable = 1;
    });
    expectViolation(
      run('pdb-allows-eviction', trees),
      'gitops/envs/dev: PodDisruptionBudget/api',
      /allows no eviction of Rollout\/api at 1 replica/,
    );
    const percent = breakObject(PROD, 'PodDisruptionBudget', 'worker', (o) => {
      o.spec.maxUnavailable = '0%';
    });
    expectViolation(run('pdb-allows-eviction', percent), 'PodDisruptionBudget/worker', /allows no eviction/);
  },
  'graceful-shutdown': () => {
    const trees = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.template.spec.terminationGracePeriodSeconds = 20;
    });
    expectViolation(
      run('graceful-shutdown', trees),
      'Rollout/api container "api"',
      /needs 25s to stop \(preStop 5s \+ SHUTDOWN_TIMEOUT_MS 20000\).*terminationGracePeriodSeconds 20s/,
    );
  },
  'topology-spread': () => {
    const trees = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.template.spec.topologySpreadConstraints = o.spec.template.spec.topologySpreadConstraints.filter(
        (c: K8sObject) => c.topologyKey !== 'topology.kubernetes.io/zone',
      );
    });
    expectViolation(
      run('topology-spread', trees),
      'gitops/envs/prod: Rollout/api',
      /topology.kubernetes.io\/zone/,
    );
  },
});
