// Each upstream rule against a copy of the rendered tree broken the way the ledger's facts say a real cluster
// would break: a chart version never released, a scrape one installation does not serve.
import { ARGOCD, STAGING } from './tree-names';
import {
  brokenTrees,
  expectViolation,
  present,
  run,
  testRuleFamily,
  withImage,
  withRolloutsPluginImage,
  withSourceRevision,
} from './broken-trees';
import { upstreamRules } from './upstream';

testRuleFamily(upstreamRules, {
  'upstream-pinned-versions': () => {
    const unreleased = withSourceRevision('kube-prometheus-stack', '81.4.5');
    expectViolation(
      run('upstream-pinned-versions', unreleased),
      'argocd: Application/kube-prometheus-stack',
      /chart kube-prometheus-stack 81\.4\.5 was never seen released upstream/,
    );
    const bumpedUnread = withSourceRevision('argo-rollouts', '2.40.10');
    expectViolation(
      run('upstream-pinned-versions', bumpedUnread),
      'argocd: Application/argo-rollouts',
      /pinned at 2\.40\.10, but the ledger records 2\.40\.9/,
    );
    const unknownChart = brokenTrees(ARGOCD, 'Application', 'loki', (o) => {
      present(o.spec.sources, 'Application sources')[0].chart = 'loki-distributed';
    });
    expectViolation(
      run('upstream-pinned-versions', unknownChart),
      'argocd: Application/loki',
      /chart loki-distributed from https:\/\/grafana\.github\.io\/helm-charts is not in the upstream ledger/,
    );
    const plugin = withRolloutsPluginImage(
      'ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:v0.12.0',
    );
    expectViolation(
      run('upstream-pinned-versions', plugin),
      'argocd: Application/argo-rollouts values container "copy-gateway-api-plugin"',
      /ledger records plugin argoproj-labs\/gatewayAPI at v0\.13\.0/,
    );
    const image = withImage(STAGING, 'StatefulSet', 'redis', 'redis', 'docker.io/library/redis:7.4.9-alpine');
    expectViolation(
      run('upstream-pinned-versions', image),
      'gitops/envs/staging: StatefulSet/redis container "redis"',
      /runs docker\.io\/library\/redis:7\.4\.9-alpine, but the ledger records docker\.io\/library\/redis at 7\.4\.2-alpine/,
    );
  },
  'argocd-metrics-scrape-portable': () => {
    const serviceMonitor = brokenTrees(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      // The same scrape written as a ServiceMonitor (through the argocd-metrics Service) instead.
      Object.assign(o, {
        kind: 'ServiceMonitor',
        spec: {
          selector: { matchLabels: { 'app.kubernetes.io/name': 'argocd-metrics' } },
          endpoints: [{ port: 'metrics' }],
        },
      });
    });
    expectViolation(
      run('argocd-metrics-scrape-portable', serviceMonitor),
      'argocd: ServiceMonitor/argocd-application-controller',
      /install\.yaml and the argo-cd chart name its port differently/,
    );
    const portName = brokenTrees(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      o.spec.podMetricsEndpoints = [{ port: 'metrics' }];
    });
    expectViolation(
      run('argocd-metrics-scrape-portable', portName),
      'argocd: PodMonitor/argocd-application-controller',
      /does not scrape port number 8082, the controller's metrics port in manifests\/install\.yaml/,
    );
  },
});
