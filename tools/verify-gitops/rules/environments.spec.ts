// Each environments rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject, RenderedTree } from '../model';
import { DEV, PROD } from './tree-names';
import { breakObject, container, expectViolation, rendered, run, testRuleFamily } from './broken-trees';
import { environmentsRules } from './environments';

testRuleFamily(environmentsRules, {
  'env-sizing': () => {
    const prodTwo = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.replicas = 2;
    });
    expectViolation(
      run('env-sizing', prodTwo),
      'gitops/envs/prod: Rollout/api',
      /prod runs 3 replicas per service, not 2/,
    );
    const devThree = breakObject(DEV, 'Rollout', 'worker', (o) => {
      o.spec.replicas = 3;
    });
    expectViolation(
      run('env-sizing', devThree),
      'gitops/envs/dev: Rollout/worker',
      /dev runs 1 replica per service, not 3/,
    );
    const smallProd = breakObject(PROD, 'Rollout', 'worker', (o) => {
      container(o, 'worker').resources.requests.memory = '64Mi';
    });
    expectViolation(
      run('env-sizing', smallProd),
      'gitops/envs/prod: Rollout/worker',
      /requests less memory than in staging/,
    );
  },
  'chaos-off-in-prod': () => {
    const trees = structuredClone(rendered);
    const prod = trees.find((t) => t.source === PROD) as RenderedTree;
    const configMap = prod.objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('api-config-'),
    ) as K8sObject;
    configMap.data.CHAOS_ERROR_RATIO = '0.2';
    expectViolation(
      run('chaos-off-in-prod', trees),
      'gitops/envs/prod: ConfigMap/api-config-',
      /CHAOS_ERROR_RATIO=0.2 injects faults in prod/,
    );
    const direct = breakObject(PROD, 'Rollout', 'worker', (o) => {
      container(o, 'worker').env.push({ name: 'CHAOS_JOB_FAILURE_RATIO', value: '0.5' });
    });
    expectViolation(
      run('chaos-off-in-prod', direct),
      'Rollout/worker container "worker"',
      /CHAOS_JOB_FAILURE_RATIO injects faults in prod/,
    );
    // The same knob in dev is what the canary rehearsal is for.
    const devTrees = structuredClone(rendered);
    const dev = devTrees.find((t) => t.source === DEV) as RenderedTree;
    (
      dev.objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('api-config-'),
      ) as K8sObject
    ).data.CHAOS_ERROR_RATIO = '0.2';
    expect(run('chaos-off-in-prod', devTrees)).toEqual([]);
  },
});
