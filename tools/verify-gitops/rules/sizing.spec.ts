// Each sizing rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, PROD, STAGING } from './tree-names';
import { brokenTrees, containerNamed, expectViolation, present, run, testRuleFamily } from './broken-trees';
import { sizingRules } from './sizing';

testRuleFamily(sizingRules, {
  resources: () => {
    const trees = brokenTrees(PROD, 'Rollout', 'worker', (o) => {
      const resources = present(containerNamed(o, 'worker').resources, 'worker resources');
      delete present(resources.limits, 'worker limits').memory;
      present(resources.requests, 'worker requests').cpu = '4';
    });
    const violations = run('resources', trees);
    expectViolation(violations, 'Rollout/worker container "worker"', /no resources.limits.memory/);
    expectViolation(violations, 'Rollout/worker container "worker"', /requests cpu 4 above its limit 2/);
    // The sizes of gitops/base before they were measured: the API was OOM-killed under load at 256Mi.
    const unmeasured = brokenTrees(STAGING, 'Rollout', 'api', (o) => {
      containerNamed(o, 'api').resources = {
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
    const floor = brokenTrees(PROD, 'HorizontalPodAutoscaler', 'api', (o) => {
      present(o.spec, 'api HPA spec').minReplicas = 2;
    });
    expectViolation(
      run('hpa-consistent', floor),
      'gitops/envs/prod: HorizontalPodAutoscaler/api',
      /minReplicas 2 differs from Rollout\/api replicas 3/,
    );
    const target = brokenTrees(DEV, 'HorizontalPodAutoscaler', 'worker', (o) => {
      const target = present(o.spec, 'worker HPA spec').scaleTargetRef;
      target.apiVersion = 'apps/v1';
      target.kind = 'Deployment';
    });
    expectViolation(run('hpa-consistent', target), 'HorizontalPodAutoscaler/worker', /matches no workload/);
    const metrics = brokenTrees(DEV, 'HorizontalPodAutoscaler', 'api', (o) => {
      const spec = present(o.spec, 'api HPA spec');
      spec.metrics = spec.metrics?.filter((m) => m.resource?.name !== 'memory');
    });
    expectViolation(
      run('hpa-consistent', metrics),
      'HorizontalPodAutoscaler/api',
      /does not scale on memory/,
    );
    const idleTrips = brokenTrees(DEV, 'Rollout', 'worker', (o) => {
      present(containerNamed(o, 'worker').resources?.requests, 'worker requests').memory = '160Mi';
    });
    expectViolation(
      run('hpa-consistent', idleTrips),
      'gitops/envs/dev: HorizontalPodAutoscaler/worker',
      /scales out at 80% of a 160 MiB memory request = 128 MiB, which .* idle footprint \(150 MiB\)/,
    );
  },
});
