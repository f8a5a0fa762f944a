// Each images rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { ARGOCD, DEV, PROD, STAGING } from './tree-names';
import { breakObject, container, expectViolation, run, testRuleFamily } from './broken-trees';
import { imagesRules } from './images';

testRuleFamily(imagesRules, {
  'immutable-image-tags': () => {
    const ours = breakObject(PROD, 'Rollout', 'api', (o) => {
      container(o, 'api').image = 'ghcr.io/opsforge/api:latest';
    });
    expectViolation(
      run('immutable-image-tags', ours),
      'Rollout/api container "api"',
      /40-character git sha.*gitops\/images\/kustomization.yaml/,
    );
    const tagOnly = breakObject(STAGING, 'Rollout', 'api', (o) => {
      container(o, 'api').image = container(o, 'api').image.split('@')[0];
    });
    expectViolation(
      run('immutable-image-tags', tagOnly),
      'gitops/envs/staging: Rollout/api container "api"',
      /must name the digest release.yml pushed/,
    );
    const shortSha = breakObject(DEV, 'Rollout', 'worker', (o) => {
      container(o, 'worker').image = 'ghcr.io/opsforge/worker:9779db8';
    });
    expectViolation(run('immutable-image-tags', shortSha), 'Rollout/worker', /40-character git sha/);
    const thirdParty = breakObject(DEV, 'StatefulSet', 'redis', (o) => {
      container(o, 'redis').image = 'docker.io/library/redis:7';
    });
    expectViolation(run('immutable-image-tags', thirdParty), 'StatefulSet/redis', /full release version/);
    const pluginImage = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.helm.valuesObject.controller.initContainers[0].image =
        'ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:latest';
    });
    expectViolation(
      run('immutable-image-tags', pluginImage),
      'argocd: Application/argo-rollouts valuesObject.controller.initContainers[0].image',
      /full release version/,
    );
  },
});
