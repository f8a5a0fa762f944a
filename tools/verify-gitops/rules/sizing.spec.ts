// Each sizing rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { DEV, PROD, STAGING } from './tree-names';
import { breakObject, container, expectViolation, run, testRuleFamily } from './broken-trees';
import { sizingRules } from './sizing';

testRuleFamily(sizingRules, {
  resources: () => {
    const trees = breakObject(PROD, 'Rollout', 'worker', (o) => {
      delete container(o, 'worker').resources.limits.memory;
      container(o, 'worker').resources.requests.cpu = '4';
    });
    const violations = run('resources', trees);
    expectViolation(violations, 'Rollout/worker container "worker"', /no resources.limits.memory/);
    expectViolation(violations, 'Rollout/worker container "worker"', /requests cpu 4 above its limit 2/);
    // The sizes of gitops/base before they were measured: the API was OOM-killed under load at 256Mi.
    const unmeasured = breakObject(STAGING, 'Rollout', 'api', (o) => {
      container(o, 'api').resources = {
        requests: { cpu: '100m', memory: '128Mi' },
        limits: { cpu: '1', memory: '256Mi' },
      };
    });
    const sizing = run('resources', unmeasured);
    expectViolation(sizing, 'Rollout/api container "api"', /requests memory 128Mi, below .* idle footprint/);
    expectViolation(
      sizing,
      'Rollout/api container "api"',
      /limits memory 256Mi, under 377 MiB .* OOM-killed/,
    );
  },
  'hpa-consistent': () => {
    const floor = breakObject(PROD, 'HorizontalPodAutoscaler', 'api', (o) => {
      o.spec.minReplicas = 2;
    });
    expectViolation(
      run('hpa-consistent', floor),
      'gitops/envs/prod: HorizontalPodAutoscaler/api',
      /minReplicas 2 differs from Rollout\/api replicas 3/,
    );
    const target = breakObject(DEV, 'HorizontalPodAutoscaler', 'worker', (o) => {
      o.spec.scaleTargetRef.apiVersion = 'apps/v1';
      o.spec.scaleTargetRef.kind = 'Deployment';
    });
    expectViolation(run('hpa-consistent', target), 'HorizontalPodAutoscaler/worker', /matches no workload/);
    const metrics = breakObject(DEV, 'HorizontalPodAutoscaler', 'api', (o) => {
      o.spec.metrics = o.spec.metrics.filter((m: K8sObject) => m.resource.name !== 'memory');
    });
    expectViolation(
      run('hpa-consistent', metrics),
      'HorizontalPodAutoscaler/api',
      /does not scale on memory/,
    );
    const idleTrips = breakObject(DEV, 'Rollout', 'worker', (o) => {
      container(o, 'worker').resources.requests.memory = '160Mi';
    });
    expectViolation(
      run('hpa-consistent', idleTrips),
      'gitops/envs/dev: HorizontalPodAutoscaler/worker',
      /scales out at 80% of a 160 MiB memory request = 128 MiB, which .* idle footprint \(150 MiB\)/,
    );
  },
});
