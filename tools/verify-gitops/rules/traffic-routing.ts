// Traffic routing held to what was read upstream (upstream.yaml): the Gateway API plugin's ignore rule in Argo
// CD, Rollout fields that only work with traffic routing, and NetworkPolicies that admit the Gateway's data
// plane where the implementations run it. Every message names the ledger fact it rests on.
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import {
  isMapping,
  ofKind,
  podLabels,
  selectorMatches,
  serviceSelects,
  workloads,
} from '../../lib/kubernetes';
import { where } from '../model';
import { argocdTrees, envTrees } from './define-rule';
import { behaviourData, cite, envDeployers, specSyncOptions, defineLedgerRule } from './ledger';

const GATEWAY_API_PLUGIN = 'gateway-api-traffic-router';

/** A traffic-router plugin's configuration in a Rollout (free-form per plugin in the Rollout's schema). */
export function pluginConfig(rollout: IRollout, pluginName: string): Record<string, unknown> | undefined {
  const plugins: unknown = rollout.spec?.strategy?.canary?.trafficRouting?.plugins;
  const config = isMapping(plugins) ? plugins[pluginName] : undefined;
  return isMapping(config) ? config : undefined;
}

const gatewayApiIgnoreRule = defineLedgerRule({
  name: 'gatewayapi-ignore-rule',
  summary:
    "an Application deploying a Rollout routed by the Gateway API plugin ignores the HTTPRoute's rules while the plugin labels it in-progress, and respects ignored fields on sync",
  check({ trees, flag, ledger }) {
    const plugin = ledger.plugins[GATEWAY_API_PLUGIN];
    const { group, kind, jqPathExpression } = behaviourData(ledger, 'gatewayapi-plugin-argocd-ignore-rule');
    const routed = envTrees(trees).filter((env) =>
      ofKind(env, 'Rollout').some((r) => pluginConfig(r, plugin?.name ?? '')),
    );
    for (const env of routed) {
      for (const rollout of ofKind(env, 'Rollout')) {
        const config = pluginConfig(rollout, plugin?.name ?? '');
        if (
          config &&
          (config.disableInProgressLabel === true || config.inProgressLabelKey || config.inProgressLabelValue)
        )
          flag(
            where(env, rollout),
            `changes or disables the plugin's in-progress label, which Argo CD's ignore rule keys on (${cite(ledger, 'gatewayapi-plugin-in-progress-label')}): keep the default label`,
          );
      }
    }
    for (const tree of argocdTrees(trees)) {
      for (const { owner, spec, envs } of envDeployers(tree, routed)) {
        const at = where(tree, owner);
        const ignores = spec.ignoreDifferences ?? [];
        const covered = ignores.some(
          (ignore) =>
            ignore.group === group &&
            ignore.kind === kind &&
            (ignore.jqPathExpressions ?? []).includes(jqPathExpression),
        );
        if (!covered)
          flag(
            at,
            `deploys ${envs.map((e) => e.source).join(', ')}, whose Rollouts the Gateway API plugin routes, without ignoreDifferences { group: ${group}, kind: ${kind}, jqPathExpressions: [${jqPathExpression}] }: selfHeal would revert the canary's weights (${cite(ledger, 'gatewayapi-plugin-argocd-ignore-rule')})`,
          );
        if (!specSyncOptions(spec).includes('RespectIgnoreDifferences=true'))
          flag(
            at,
            `has no RespectIgnoreDifferences=true: a sync during a canary would apply the weights in git over the plugin's (${cite(ledger, 'argocd-ignore-differences-jq')})`,
          );
      }
    }
  },
});

const rolloutScaleDownDelayNeedsTrafficRouting = defineLedgerRule({
  name: 'rollout-scale-down-delay-needs-traffic-routing',
  summary:
    'a canary without traffic routing sets neither abortScaleDownDelaySeconds (ignored) nor scaleDownDelaySeconds (rejected)',
  check({ trees, flag, ledger }) {
    for (const tree of trees) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const canary = rollout.spec?.strategy?.canary;
        if (!canary || canary.trafficRouting) continue;
        if (canary.abortScaleDownDelaySeconds !== undefined)
          flag(
            where(tree, rollout),
            `sets abortScaleDownDelaySeconds without trafficRouting, where Argo Rollouts ignores it: an abort is a rolling update back to stable (${cite(ledger, 'rollouts-abort-scale-down-delay-needs-traffic-routing')}): remove it`,
          );
        if (canary.scaleDownDelaySeconds !== undefined)
          flag(
            where(tree, rollout),
            `sets scaleDownDelaySeconds without trafficRouting, which Argo Rollouts rejects as InvalidSpec (${cite(ledger, 'rollouts-scale-down-delay-invalid-without-traffic-routing')}): remove it`,
          );
      }
    }
  },
});

/** Whether a NetworkPolicy ingress peer admits a pod with these labels in a namespace with these labels. */
function peerAdmits(
  peer: INetworkPolicyPeer,
  policyNamespace: string,
  namespaceLabels: Record<string, string>,
  labels: Record<string, string>,
): boolean {
  if (peer.ipBlock) return false;
  const namespaceMatches = peer.namespaceSelector
    ? selectorMatches(peer.namespaceSelector, namespaceLabels)
    : namespaceLabels['kubernetes.io/metadata.name'] === policyNamespace;
  return namespaceMatches && (!peer.podSelector || selectorMatches(peer.podSelector, labels));
}

const gatewayDataPlaneAdmitted = defineLedgerRule({
  name: 'gateway-data-plane-admitted',
  summary:
    "the NetworkPolicies of an HTTPRoute's backends admit its Gateway's data plane both in the Gateway's namespace and where Envoy Gateway runs it by default",
  check({ trees, flag, ledger }) {
    const { namespace: envoyNamespace } = behaviourData(
      ledger,
      'envoy-gateway-proxies-in-controller-namespace',
    );
    const owner = behaviourData(ledger, 'envoy-gateway-proxy-owner-labels');
    for (const env of envTrees(trees)) {
      for (const route of ofKind(env, 'HTTPRoute')) {
        for (const parent of route.spec?.parentRefs ?? []) {
          const gatewayNamespace = String(parent.namespace ?? route.metadata?.namespace);
          const dataPlanes = [
            {
              where: `namespace ${gatewayNamespace} (the Gateway's)`,
              namespace: gatewayNamespace,
              labels: {},
            },
            {
              where: `Envoy Gateway's proxies in ${envoyNamespace} (${cite(ledger, 'envoy-gateway-proxies-in-controller-namespace')})`,
              namespace: envoyNamespace,
              labels: {
                [owner.namespaceLabel]: gatewayNamespace,
                [owner.nameLabel]: String(parent.name),
              },
            },
          ];
          const backends = new Set<string>(
            (route.spec?.rules ?? []).flatMap((r) => (r.backendRefs ?? []).map((b) => b.name)),
          );
          for (const service of ofKind(env, 'Service').filter((s) => backends.has(s.metadata?.name ?? ''))) {
            for (const workload of workloads(env).filter((w) => serviceSelects(service, podLabels(w)))) {
              const policies = ofKind(env, 'NetworkPolicy').filter(
                (p) =>
                  selectorMatches(p.spec?.podSelector, podLabels(workload)) &&
                  (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
              );
              if (policies.length === 0) continue;
              for (const plane of dataPlanes) {
                const admitted = policies.some((policy) =>
                  (policy.spec?.ingress ?? []).some((rule) =>
                    (rule.from ?? [{}]).some((peer) =>
                      peerAdmits(
                        peer,
                        String(policy.metadata?.namespace),
                        { 'kubernetes.io/metadata.name': plane.namespace },
                        plane.labels,
                      ),
                    ),
                  ),
                );
                if (!admitted)
                  flag(
                    where(env, workload),
                    `serves HTTPRoute ${route.metadata?.name} (Gateway ${gatewayNamespace}/${parent.name}) but no NetworkPolicy admits its data plane in ${plane.where}`,
                  );
              }
            }
          }
        }
      }
    }
  },
});

export const trafficRoutingRules = [
  gatewayApiIgnoreRule,
  rolloutScaleDownDelayNeedsTrafficRouting,
  gatewayDataPlaneAdmitted,
];
