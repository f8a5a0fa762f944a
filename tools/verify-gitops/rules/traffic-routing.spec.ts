// Each traffic-routing rule against a copy of the rendered tree broken the way the ledger's facts say a real
// cluster would break: selfHeal reverting the canary's weights, a Rollout field the controller ignores, a Gateway
// data plane the NetworkPolicy drops.
import type { K8sObject } from '../model';
import { ARGOCD, PROD, STAGING } from './tree-names';
import { breakObject, expectViolation, run, testRuleFamily } from './broken-trees';
import { trafficRoutingRules } from './traffic-routing';

testRuleFamily(trafficRoutingRules, {
  'gatewayapi-ignore-rule': () => {
    const noIgnore = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.ignoreDifferences = o.spec.template.spec.ignoreDifferences.filter(
        (ignore: K8sObject) => ignore.kind !== 'HTTPRoute',
      );
    });
    expectViolation(
      run('gatewayapi-ignore-rule', noIgnore),
      'argocd: ApplicationSet/opsforge-envs',
      /without ignoreDifferences \{ group: gateway\.networking\.k8s\.io, kind: HTTPRoute.*selfHeal would revert the canary's weights/,
    );
    const notRespected = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.syncPolicy.syncOptions = ['CreateNamespace=true'];
    });
    expectViolation(
      run('gatewayapi-ignore-rule', notRespected),
      'argocd: ApplicationSet/opsforge-envs',
      /has no RespectIgnoreDifferences=true/,
    );
    const labelOff = breakObject(STAGING, 'Rollout', 'api', (o) => {
      o.spec.strategy.canary.trafficRouting.plugins['argoproj-labs/gatewayAPI'].disableInProgressLabel = true;
    });
    expectViolation(
      run('gatewayapi-ignore-rule', labelOff),
      'gitops/envs/staging: Rollout/api',
      /changes or disables the plugin's in-progress label/,
    );
  },
  'rollout-scale-down-delay-needs-traffic-routing': () => {
    const broken = breakObject(PROD, 'Rollout', 'worker', (o) => {
      o.spec.strategy.canary.abortScaleDownDelaySeconds = 30;
      o.spec.strategy.canary.scaleDownDelaySeconds = 30;
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
    const gatewayNamespaceOnly = breakObject(PROD, 'NetworkPolicy', 'api', (o) => {
      o.spec.ingress[0].from = o.spec.ingress[0].from.filter((peer: K8sObject) => !peer.podSelector);
    });
    expectViolation(
      run('gateway-data-plane-admitted', gatewayNamespaceOnly),
      'gitops/envs/prod: Rollout/api',
      /no NetworkPolicy admits its data plane in Envoy Gateway's proxies in envoy-gateway-system/,
    );
    const envoyOnly = breakObject(PROD, 'NetworkPolicy', 'api', (o) => {
      o.spec.ingress[0].from = o.spec.ingress[0].from.filter(
        (peer: K8sObject) =>
          peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] !== 'gateway-system',
      );
    });
    expectViolation(
      run('gateway-data-plane-admitted', envoyOnly),
      'gitops/envs/prod: Rollout/api',
      /no NetworkPolicy admits its data plane in namespace gateway-system \(the Gateway's\)/,
    );
  },
});
