// Each upstream rule against a copy of the rendered tree broken the way the ledger's facts say a real cluster
// would break: a chart version never released, a scrape one installation does not serve.
import { ARGOCD, STAGING } from './tree-names';
import { breakObject, container, expectViolation, run, testRuleFamily } from './broken-trees';
import { upstreamRules } from './upstream';

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
});
