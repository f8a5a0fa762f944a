// Each upstream rule against a copy of the rendered tree broken the way the ledger's facts say a real cluster
// would break: a chart version never released, selfHeal reverting the canary's weights, waves that do not wait,
// an env sync held open by a canary, a Rollout field the controller ignores, a scrape one installation does
// not serve, a Gateway data plane the NetworkPolicy drops.
import type { K8sObject, RenderedTree } from '../model';
import {
  ARGOCD,
  breakObject,
  container,
  DEV,
  expectViolation,
  PROD,
  rendered,
  run,
  STAGING,
  testRuleFamily,
} from './broken-trees';
import { upstreamRules } from './upstream';

/** A copy of the rendered trees with every object of `source` matching `select` changed. */
function breakWhere(
  source: string,
  select: (object: K8sObject) => boolean,
  mutate: (object: K8sObject) => void,
): RenderedTree[] {
  const copy = structuredClone(rendered);
  const matches = (copy.find((t) => t.source === source)?.objects ?? []).filter(select);
  if (matches.length === 0) throw new Error(`${source} renders nothing to break`);
  matches.forEach(mutate);
  return copy;
}

function annotate(object: K8sObject, key: string, value: string): void {
  object.metadata.annotations = { ...object.metadata.annotations, [key]: value };
}

testRuleFamily(upstreamRules, {
  'upstream-pinned-versions': () => {
    const unreleased = breakObject(ARGOCD, 'Application', 'kube-prometheus-stack', (o) => {
      o.spec.source.targetRevision = '81.4.5';
    });
    expectViolation(
      run('upstream-pinned-versions', unreleased),
      'argocd: Application/kube-prometheus-stack',
      /chart kube-prometheus-stack 81\.4\.5 was never seen released upstream/,
    );
    const bumpedUnread = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.targetRevision = '2.40.10';
    });
    expectViolation(
      run('upstream-pinned-versions', bumpedUnread),
      'argocd: Application/argo-rollouts',
      /pinned at 2\.40\.10, but the ledger records 2\.40\.9/,
    );
    const unknownChart = breakObject(ARGOCD, 'Application', 'loki', (o) => {
      o.spec.sources[0].chart = 'loki-distributed';
    });
    expectViolation(
      run('upstream-pinned-versions', unknownChart),
      'argocd: Application/loki',
      /chart loki-distributed from https:\/\/grafana\.github\.io\/helm-charts is not in the upstream ledger/,
    );
    const plugin = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.helm.valuesObject.controller.initContainers[0].image =
        'ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:v0.12.0';
    });
    expectViolation(
      run('upstream-pinned-versions', plugin),
      'argocd: Application/argo-rollouts values container "copy-gateway-api-plugin"',
      /ledger records plugin argoproj-labs\/gatewayAPI at v0\.13\.0/,
    );
    const image = breakObject(STAGING, 'StatefulSet', 'redis', (o) => {
      container(o, 'redis').image = 'docker.io/library/redis:7.4.9-alpine';
    });
    expectViolation(
      run('upstream-pinned-versions', image),
      'gitops/envs/staging: StatefulSet/redis container "redis"',
      /runs docker\.io\/library\/redis:7\.4\.9-alpine, but the ledger records docker\.io\/library\/redis at 7\.4\.2-alpine/,
    );
  },
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
  'argocd-waves-wait': () => {
    const lateHealthCheck = breakObject(ARGOCD, 'ConfigMap', 'argocd-cm', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '0');
    });
    expectViolation(
      run('argocd-waves-wait', lateHealthCheck),
      'argocd: ConfigMap/argocd-cm',
      /is in wave 0, not before the first Application wave \(-4\)/,
    );
    const crdSameWave = breakObject(ARGOCD, 'Application', 'kube-prometheus-stack', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-2');
    });
    expectViolation(
      run('argocd-waves-wait', crdSameWave),
      'argocd: Application/argo-rollouts',
      /is in wave -2 but renders monitoring\.coreos\.com\/ServiceMonitor, whose CRD an Application of wave -2 installs/,
    );
    const envsEarly = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-2');
    });
    expectViolation(
      run('argocd-waves-wait', envsEarly),
      'argocd: ApplicationSet/opsforge-envs',
      /renders argoproj\.io\/Rollout, whose CRD an Application of wave -2 installs/,
    );
    const dryRun = breakObject(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      delete o.metadata.annotations['argocd.argoproj.io/sync-options'];
    });
    expectViolation(
      run('argocd-waves-wait', dryRun),
      'argocd: PodMonitor/argocd-application-controller',
      /SkipDryRunOnMissingResource=true/,
    );
    const rootEarly = breakObject(ARGOCD, 'Application', 'opsforge-root', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-1');
    });
    expectViolation(
      run('argocd-waves-wait', rootEarly),
      'argocd: Application/opsforge-root',
      /is in wave -1, not the last \(0\)/,
    );
  },
  'env-sync-never-waits-on-canary': () => {
    const pruneLast = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.syncPolicy.syncOptions.push('PruneLast=true');
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', pruneLast),
      'argocd: ApplicationSet/opsforge-envs',
      /syncs envs with PruneLast=true/,
    );
    const undeployed = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.generators = [{ list: { elements: [{ env: 'dev' }] } }];
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', undeployed),
      'gitops/envs/prod',
      /no Application or ApplicationSet generator in argocd is recognised as deploying it/,
    );
    const laterWave = breakObject(PROD, 'Service', 'api', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '1');
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', laterWave),
      'gitops/envs/prod: Rollout/api',
      /is in sync wave 0 while the env's last wave is 1/,
    );
    const pruned = breakWhere(
      PROD,
      (o) => o.kind === 'ConfigMap' && String(o.metadata?.name).startsWith('worker-config-'),
      (o) => {
        delete o.metadata.annotations['argocd.argoproj.io/sync-options'];
      },
    );
    expectViolation(
      run('env-sync-never-waits-on-canary', pruned),
      'gitops/envs/prod: ConfigMap/worker-config-',
      /generated for Rollout worker but lacks argocd\.argoproj\.io\/sync-options: Prune=false/,
    );
    const redisConfig = breakWhere(
      DEV,
      (o) => o.kind === 'ConfigMap' && String(o.metadata?.name).startsWith('redis-config-'),
      (o) => {
        delete o.metadata.annotations['argocd.argoproj.io/compare-options'];
      },
    );
    expectViolation(
      run('env-sync-never-waits-on-canary', redisConfig),
      'gitops/envs/dev: ConfigMap/redis-config-',
      /generated for StatefulSet redis but lacks argocd\.argoproj\.io\/compare-options: IgnoreExtraneous/,
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
  'argocd-metrics-scrape-portable': () => {
    const serviceMonitor = breakObject(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      o.kind = 'ServiceMonitor';
      o.spec = {
        selector: { matchLabels: { 'app.kubernetes.io/name': 'argocd-metrics' } },
        endpoints: [{ port: 'metrics' }],
      };
    });
    expectViolation(
      run('argocd-metrics-scrape-portable', serviceMonitor),
      'argocd: ServiceMonitor/argocd-application-controller',
      /install\.yaml and the argo-cd chart name its port differently/,
    );
    const portName = breakObject(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      o.spec.podMetricsEndpoints = [{ port: 'metrics' }];
    });
    expectViolation(
      run('argocd-metrics-scrape-portable', portName),
      'argocd: PodMonitor/argocd-application-controller',
      /does not scrape port number 8082, the controller's metrics port in manifests\/install\.yaml/,
    );
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
