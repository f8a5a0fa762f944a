// Each promotion rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { ARGOCD } from './tree-names';
import { brokenTrees, expectViolation, present, run, testRuleFamily } from './broken-trees';
import { promotionRules } from './promotion';

testRuleFamily(promotionRules, {
  'env-revisions-promoted': () => {
    const allOnMain = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      present(o.spec.template.spec.source, 'env ApplicationSet source').targetRevision = 'main';
    });
    expectViolation(
      run('env-revisions-promoted', allOnMain),
      'argocd: ApplicationSet/opsforge-envs',
      /renders every environment at "main", so a change to gitops\/base or rollouts\/ reaches prod on merge/,
    );
    const byDirectory = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      const git = present(o.spec.generators[0].git, 'git generator');
      delete git.files;
      git.directories = [{ path: 'gitops/envs/*' }];
    });
    expectViolation(
      run('env-revisions-promoted', byDirectory),
      'argocd: ApplicationSet/opsforge-envs',
      /not from each folder's revision file/,
    );
  },
});
