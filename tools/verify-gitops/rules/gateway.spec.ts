// The gateway rule against copies of the rendered tree whose routes would tie on the shared Gateway.
import { isMapping, ofKind } from '../../lib/kubernetes';
import type { RenderedTree } from '../model';
import {
  brokenTrees,
  expectViolation,
  present,
  removeObject,
  rendered,
  run,
  testRuleFamily,
} from './broken-trees';
import { ARGOCD, DEV, PROD, STAGING } from './tree-names';
import { gatewayRules } from './gateway';
import { valueAt } from './ledger';

/** The rendered trees with some environments' api HTTPRoute hostnames replaced (undefined: none at all). */
function withHostnames(hostnames: Record<string, string[] | undefined>): RenderedTree[] {
  const copy = structuredClone(rendered);
  for (const [source, hosts] of Object.entries(hostnames)) {
    const tree = copy.find((t) => t.source === source);
    const route = tree && ofKind(tree, 'HTTPRoute')[0];
    if (!route) throw new Error(`${source} renders no HTTPRoute`);
    if (hosts === undefined) delete route.spec.hostnames;
    else route.spec.hostnames = hosts;
  }
  return copy;
}

testRuleFamily(gatewayRules, {
  'gateway-routes-never-tie': () => {
    // As before per-environment hostnames: no route sets any, so all three take every Host.
    const none = withHostnames({ [DEV]: undefined, [STAGING]: undefined, [PROD]: undefined });
    const violations = run('gateway-routes-never-tie', none);
    expect(violations).toHaveLength(3);
    expectViolation(
      violations,
      `${DEV}: HTTPRoute/api and ${STAGING}: HTTPRoute/api`,
      /dev\/api and staging\/api attach to Gateway gateway-system\/opsforge on the same listener, neither sets hostnames.*PathPrefix \/api.*older route only \(hostnames: kubernetes-sigs\/gateway-api@v1\.6\.1/,
    );
    // One environment left without a hostname takes every other environment's Host as well.
    expectViolation(
      run('gateway-routes-never-tie', withHostnames({ [STAGING]: undefined })),
      `${PROD}: HTTPRoute/api and ${STAGING}: HTTPRoute/api`,
      /staging\/api sets no hostnames, so it also takes api\.prod\./,
    );
    // A wildcard overlapping another environment's name.
    expectViolation(
      run('gateway-routes-never-tie', withHostnames({ [PROD]: ['*.opsforge.example.com'] })),
      `${DEV}: HTTPRoute/api and ${PROD}: HTTPRoute/api`,
      /both take api\.dev\.opsforge\.example\.com \/ \*\.opsforge\.example\.com/,
    );
    // Two environments given the same hostname by a copied endpoint.yaml.
    expectViolation(
      run('gateway-routes-never-tie', withHostnames({ [STAGING]: ['api.prod.opsforge.example.com'] })),
      `${PROD}: HTTPRoute/api and ${STAGING}: HTTPRoute/api`,
      /both take api\.prod\.opsforge\.example\.com/,
    );
    // Not a tie: distinct listeners, or distinct matches on a shared hostname.
    const otherListener = brokenTrees(DEV, 'HTTPRoute', 'api', (route) => {
      delete route.spec.hostnames;
      present(route.spec.parentRefs?.[0], 'dev api parentRef').sectionName = 'internal';
    });
    for (const tree of otherListener.filter((t) => t.source !== DEV))
      for (const route of ofKind(tree, 'HTTPRoute'))
        present(route.spec.parentRefs?.[0], `${tree.source} api parentRef`).sectionName = 'http';
    expect(run('gateway-routes-never-tie', otherListener)).toEqual([]);
    const otherPath = brokenTrees(STAGING, 'HTTPRoute', 'api', (route) => {
      route.spec.hostnames = ['api.prod.opsforge.example.com'];
      present(route.spec.rules?.[0]?.matches?.[0]?.path, 'staging api match path').value = '/api/v2';
    });
    expect(run('gateway-routes-never-tie', otherPath)).toEqual([]);
  },
  'gateway-probe-per-environment': () => {
    const rule = 'gateway-probe-per-environment';
    expectViolation(
      run(rule, removeObject(STAGING, 'Probe', 'api-gateway')),
      `${STAGING}: HTTPRoute/api`,
      /no Probe requests a path this route takes/,
    );
    const unrouted = brokenTrees(DEV, 'Probe', 'api-gateway', (probe) => {
      present(probe.spec.targets?.staticConfig, 'dev probe staticConfig').static = [
        'http://opsforge-gateway.envoy-gateway-system.svc/health',
      ];
    });
    expectViolation(
      run(rule, unrouted),
      `${DEV}: HTTPRoute/api`,
      /no Probe requests a path this route takes/,
    );
    const otherHost = brokenTrees(PROD, 'Probe', 'api-gateway', (probe) => {
      present(probe.spec.params?.[0], 'prod probe hostname param').values = [
        'api.staging.opsforge.example.com',
      ];
    });
    expectViolation(
      run(rule, otherHost),
      `${PROD}: Probe/api-gateway`,
      /sends Host api\.staging\.opsforge\.example\.com \(parameter hostname, prometheus\/blackbox_exporter@v0\.28\.0 prober\/handler\.go:99-106\) but HTTPRoute\/api answers api\.prod\./,
    );
    const otherJob = brokenTrees(STAGING, 'Probe', 'api-gateway', (probe) => {
      probe.spec.jobName = 'gateway';
    });
    expectViolation(
      run(rule, otherJob),
      `${STAGING}: Probe/api-gateway`,
      /its series carry job="gateway" \(prometheus-operator\/prometheus-operator@v0\.88\.1 pkg\/prometheus\/promcfg\.go:1594-1705\) but the rules read probe_success by job "api-gateway"/,
    );
    const defaultJob = brokenTrees(STAGING, 'Probe', 'api-gateway', (probe) => {
      delete probe.spec.jobName;
    });
    expectViolation(
      run(rule, defaultJob),
      `${STAGING}: Probe/api-gateway`,
      /its series carry job="probe\/staging\/api-gateway"/,
    );
    const unselected = brokenTrees(PROD, 'Probe', 'api-gateway', (probe) => {
      delete present(probe.metadata?.labels, 'prod probe labels').release;
    });
    expectViolation(
      run(rule, unselected),
      `${PROD}: Probe/api-gateway`,
      /lacks the labels \{"release":"kube-prometheus-stack"\} the kube-prometheus-stack Prometheus selects Probes by/,
    );
    // The chart's own default selects only Probes labelled with the release: still this label.
    const chartDefault = brokenTrees(ARGOCD, 'Application', 'kube-prometheus-stack', (application) => {
      const spec = valueAt(application.spec.source?.helm?.valuesObject, 'prometheus.prometheusSpec');
      if (!isMapping(spec)) throw new Error('kube-prometheus-stack values set no prometheus.prometheusSpec');
      delete spec.probeSelector;
      delete spec.probeSelectorNilUsesHelmValues;
    });
    expect(run(rule, chartDefault)).toEqual([]);
    const renamedRelease = brokenTrees(
      ARGOCD,
      'Application',
      'prometheus-blackbox-exporter',
      (application) => {
        present(application.spec.source?.helm, 'blackbox exporter helm').releaseName = 'blackbox';
      },
    );
    expectViolation(
      run(rule, renamedRelease),
      `${DEV}: Probe/api-gateway`,
      /prober\.url is prometheus-blackbox-exporter\.monitoring\.svc:9115 but the prometheus-blackbox-exporter Application's Service is blackbox-prometheus-blackbox-exporter\.monitoring\.svc:9115/,
    );
    const unknownModule = brokenTrees(DEV, 'Probe', 'api-gateway', (probe) => {
      probe.spec.module = 'http_2xx';
    });
    expectViolation(
      run(rule, unknownModule),
      `${DEV}: Probe/api-gateway`,
      /module http_2xx is not one the prometheus-blackbox-exporter Application configures \(http_api_status\)/,
    );
    expectViolation(
      run(rule, removeObject(ARGOCD, 'Application', 'prometheus-blackbox-exporter')),
      `${STAGING}: Probe/api-gateway`,
      /no Application in argocd\/ installs the prometheus-blackbox-exporter chart/,
    );
  },
});
