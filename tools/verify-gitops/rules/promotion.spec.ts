// Each promotion rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { ARGOCD } from './tree-names';
import { breakObject, expectViolation, run, testRuleFamily } from './broken-trees';
import { promotionRules } from './promotion';

testRuleFamily(promotionRules, {
  'env-revisions-promoted': () => {
    const allOnMain = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.source.targetRevision = 'main';
    });
    expectViolation(
      run('env-revisions-promoted', allOnMain),
      'argocd: ApplicationSet/opsforge-envs',
      /renders every environment at "main", so a change to gitops\/base or rollouts\/ reaches prod on merge/,
    );
    const byDirectory = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.generators[0].git = {
        ...o.spec.generators[0].git,
        files: undefined,
        directories: [{ path: 'gitops/envs/*' }],
      };
    });
    expectViolation(
      run('env-revisions-promoted', byDirectory),
      'argocd: ApplicationSet/opsforge-envs',
      /not from each folder's revision file/,
    );
  },
});
