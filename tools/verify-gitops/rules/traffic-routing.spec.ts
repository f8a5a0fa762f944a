// Each traffic-routing rule against a copy of the rendered tree broken the way the ledger's facts say a real
// cluster would break: selfHeal reverting the canary's weights, a Rollout field the controller ignores, a Gateway
// data plane the NetworkPolicy drops.
import { ARGOCD, PROD, STAGING } from './tree-names';
import { brokenTrees, canaryOf, expectViolation, present, run, testRuleFamily } from './broken-trees';
import { pluginConfig, trafficRoutingRules } from './traffic-routing';

testRuleFamily(trafficRoutingRules, {
  'gatewayapi-ignore-rule': () => {
    const noIgnore = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      const spec = o.spec.template.spec;
      spec.ignoreDifferences = spec.ignoreDifferences?.filter((ignore) => ignore.kind !== 'HTTPRoute');
    });
    expectViolation(
      run('gatewayapi-ignore-rule', noIgnore),
      'argocd: ApplicationSet/opsforge-envs',
      /without ignoreDifferences \{ group: gateway\.networking\.k8s\.io, kind: HTTPRoute.*selfHeal would revert the canary's weights/,
    );
    const notRespected = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      present(o.spec.template.spec.syncPolicy, 'opsforge-envs syncPolicy').syncOptions = [
        'CreateNamespace=true',
      ];
    });
    expectViolation(
      run('gatewayapi-ignore-rule', notRespected),
      'argocd: ApplicationSet/opsforge-envs',
      /has no RespectIgnoreDifferences=true/,
    );
    const labelOff = brokenTrees(STAGING, 'Rollout', 'api', (o) => {
      present(pluginConfig(o, 'argoproj-labs/gatewayAPI'), 'gatewayAPI plugin').disableInProgressLabel = true;
    });
    expectViolation(
      run('gatewayapi-ignore-rule', labelOff),
      'gitops/envs/staging: Rollout/api',
      /changes or disables the plugin's in-progress label/,
    );
  },
  'rollout-scale-down-delay-needs-traffic-routing': () => {
    const broken = brokenTrees(PROD, 'Rollout', 'worker', (o) => {
      const canary = canaryOf(o);
      canary.abortScaleDownDelaySeconds = 30;
      canary.scaleDownDelaySeconds = 30;
    });
    const violations = run('rollout-scale-down-delay-needs-traffic-routing', broken);
    expectViolation(
      violations,
      'gitops/envs/prod: Rollout/worker',
      /sets abortScaleDownDelaySeconds without trafficRouting/,
    );
    expectViolation(violations, 'gitops/envs/prod: Rollout/worker', /rejects as InvalidSpec/);
  },
  'gateway-data-plane-admitted': () => {
    const gatewayNamespaceOnly = brokenTrees(PROD, 'NetworkPolicy', 'api', (o) => {
      const rule = present(o.spec?.ingress?.[0], 'api ingress rule');
      rule.from = rule.from?.filter((peer) => !peer.podSelector);
    });
    expectViolation(
      run('gateway-data-plane-admitted', gatewayNamespaceOnly),
      'gitops/envs/prod: Rollout/api',
      /no NetworkPolicy admits its data plane in Envoy Gateway's proxies in envoy-gateway-system/,
    );
    const envoyOnly = brokenTrees(PROD, 'NetworkPolicy', 'api', (o) => {
      const rule = present(o.spec?.ingress?.[0], 'api ingress rule');
      rule.from = rule.from?.filter(
        (peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] !== 'gateway-system',
      );
    });
    expectViolation(
      run('gateway-data-plane-admitted', envoyOnly),
      'gitops/envs/prod: Rollout/api',
      /no NetworkPolicy admits its data plane in namespace gateway-system \(the Gateway's\)/,
    );
  },
});
