// Each environments rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, PROD } from './tree-names';
import {
  brokenTrees,
  containerNamed,
  expectViolation,
  generatedConfigData,
  present,
  rendered,
  run,
  testRuleFamily,
  withEnv,
} from './broken-trees';
import { environmentsRules } from './environments';

testRuleFamily(environmentsRules, {
  'env-sizing': () => {
    // One env's Rollout at another env's replica count.
    for (const [env, rollout, replicas, message] of [
      [PROD, 'api', 2, /prod runs 3 replicas per service, not 2/],
      [DEV, 'worker', 3, /dev runs 1 replica per service, not 3/],
    ] as const) {
      const resized = brokenTrees(env, 'Rollout', rollout, (o) => {
        o.spec.replicas = replicas;
      });
      expectViolation(run('env-sizing', resized), `${env}: Rollout/${rollout}`, message);
    }
    const smallProd = brokenTrees(PROD, 'Rollout', 'worker', (o) => {
      present(containerNamed(o, 'worker').resources?.requests, 'worker requests').memory = '64Mi';
    });
    expectViolation(
      run('env-sizing', smallProd),
      'gitops/envs/prod: Rollout/worker',
      /requests less memory than in staging/,
    );
  },
  'chaos-off-in-prod': () => {
    const trees = structuredClone(rendered);
    generatedConfigData(trees, PROD, 'api-config-').CHAOS_ERROR_RATIO = '0.2';
    expectViolation(
      run('chaos-off-in-prod', trees),
      'gitops/envs/prod: ConfigMap/api-config-',
      /CHAOS_ERROR_RATIO=0.2 injects faults in prod/,
    );
    const direct = withEnv(PROD, 'worker', 'CHAOS_JOB_FAILURE_RATIO', '0.5');
    expectViolation(
      run('chaos-off-in-prod', direct),
      'Rollout/worker container "worker"',
      /CHAOS_JOB_FAILURE_RATIO injects faults in prod/,
    );
    // The same knob in dev is what the canary rehearsal is for.
    const devTrees = structuredClone(rendered);
    generatedConfigData(devTrees, DEV, 'api-config-').CHAOS_ERROR_RATIO = '0.2';
    expect(run('chaos-off-in-prod', devTrees)).toEqual([]);
  },
});
