// Each contract rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, PROD, STAGING } from './tree-names';
import { brokenTrees, expectViolation, present, removeObject, run, testRuleFamily } from './broken-trees';
import { contractRules } from './contract';

testRuleFamily(contractRules, {
  'contract-names': () => {
    expectViolation(
      run('contract-names', removeObject(STAGING, 'Service', 'api-canary')),
      'gitops/envs/staging',
      /renders no Service "api-canary"/,
    );
    const relabelled = brokenTrees(PROD, 'Rollout', 'worker', (o) => {
      present(o.spec.template?.metadata?.labels, 'worker pod labels')['app.kubernetes.io/name'] =
        'opsforge-worker';
    });
    expectViolation(
      run('contract-names', relabelled),
      'gitops/envs/prod: Rollout/worker',
      /app.kubernetes.io\/name: worker/,
    );
    const wrongNamespace = brokenTrees(DEV, 'Rollout', 'api', (o) => {
      present(o.metadata, 'api metadata').namespace = 'default';
    });
    expectViolation(run('contract-names', wrongNamespace), 'gitops/envs/dev', /must live in namespace "dev"/);
  },
});
