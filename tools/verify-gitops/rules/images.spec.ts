// Each images rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, PROD, STAGING } from './tree-names';
import { expectViolation, run, testRuleFamily, withImage, withRolloutsPluginImage } from './broken-trees';
import { imagesRules } from './images';

testRuleFamily(imagesRules, {
  'immutable-image-tags': () => {
    const ours = withImage(PROD, 'Rollout', 'api', 'api', 'ghcr.io/opsforge/api:latest');
    expectViolation(
      run('immutable-image-tags', ours),
      'Rollout/api container "api"',
      /40-character git sha.*gitops\/images\/kustomization.yaml/,
    );
    const tagOnly = withImage(STAGING, 'Rollout', 'api', 'api', (image) => image.split('@')[0]);
    expectViolation(
      run('immutable-image-tags', tagOnly),
      'gitops/envs/staging: Rollout/api container "api"',
      /must name the digest release.yml pushed/,
    );
    const shortSha = withImage(DEV, 'Rollout', 'worker', 'worker', 'ghcr.io/opsforge/worker:9779db8');
    expectViolation(run('immutable-image-tags', shortSha), 'Rollout/worker', /40-character git sha/);
    const thirdParty = withImage(DEV, 'StatefulSet', 'redis', 'redis', 'docker.io/library/redis:7');
    expectViolation(run('immutable-image-tags', thirdParty), 'StatefulSet/redis', /full release version/);
    const pluginImage = withRolloutsPluginImage(
      'ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:latest',
    );
    expectViolation(
      run('immutable-image-tags', pluginImage),
      'argocd: Application/argo-rollouts valuesObject.controller.initContainers[0].image',
      /full release version/,
    );
  },
});
