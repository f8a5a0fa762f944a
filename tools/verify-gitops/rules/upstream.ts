// The tree held to what was read upstream (upstream.yaml, the ledger) about what is installed: pinned versions
// that were released, and an Argo CD scrape that both installations serve. Every message names the ledger fact it
// rests on, so a reader can check it at its source. Sync waves: sync-waves.ts; traffic routing:
// traffic-routing.ts.
import { IMAGE_REPOSITORY } from '../../lib/gitops';
import { containersOf, isMapping, ofKind, selectorMatches, WORKLOAD_KINDS } from '../../lib/kubernetes';
import { where } from '../model';
import { chartFact, UPSTREAM_LEDGER_FILE } from '../upstream';
import { argocdTrees, eachObjectOfKind } from './define-rule';
import { sourcesOf } from './argocd';
import { behaviourData, cite, valueAt, defineLedgerRule } from './ledger';

/** An image reference split into repository and tag (the digest, if any, is left out). */
function imageReference(image: string): { repository: string; tag: string } {
  const withoutDigest = image.split('@')[0] as string;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/')
    ? { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) }
    : { repository: withoutDigest, tag: '' };
}

/** Every object nested in `value` (Helm values) that has a string `image`, i.e. a container we spell out. */
function containersInValues(value: unknown): { name?: unknown; image: string }[] {
  if (Array.isArray(value)) return value.flatMap(containersInValues);
  if (!isMapping(value)) return [];
  const nested = Object.values(value).flatMap(containersInValues);
  return typeof value.image === 'string' ? [{ name: value.name, image: value.image }, ...nested] : nested;
}

/** The names of the traffic-router plugins an argo-rollouts chart's values install. */
function trafficRouterPluginNames(values: unknown): unknown[] {
  const plugins = valueAt(values, 'controller.trafficRouterPlugins');
  return Array.isArray(plugins) ? plugins.map((plugin) => (isMapping(plugin) ? plugin.name : undefined)) : [];
}

const upstreamPinnedVersions = defineLedgerRule({
  name: 'upstream-pinned-versions',
  summary:
    'every chart, plugin and third-party image the tree pins is the version the upstream ledger records, and that chart version was seen released',
  check({ trees, flag, ledger }) {
    const checkImage = (at: string, image: string) => {
      if (image.startsWith(`${IMAGE_REPOSITORY}/`)) return;
      const { repository, tag } = imageReference(image);
      const plugin = Object.values(ledger.plugins).find((p) => p.image === repository);
      if (plugin) {
        if (tag !== plugin.version)
          flag(
            at,
            `runs ${image}, but the ledger records plugin ${plugin.name} at ${plugin.version} (${UPSTREAM_LEDGER_FILE}, plugins.${plugin.id})`,
          );
        return;
      }
      const known = Object.values(ledger.images).filter((entry) => entry.image === repository);
      if (known.length === 0)
        flag(
          at,
          `image ${image} is not in the upstream ledger: read its release upstream and record it under images in ${UPSTREAM_LEDGER_FILE}`,
        );
      else if (!known.some((entry) => entry.tag === tag))
        flag(
          at,
          `runs ${image}, but the ledger records ${repository} at ${known.map((e) => e.tag).join(', ')}: read the new tag upstream and update the entry`,
        );
    };
    for (const { tree, object: workload } of eachObjectOfKind(trees, ...WORKLOAD_KINDS))
      for (const { container, label } of containersOf(workload))
        checkImage(where(tree, workload, label), container.image ?? '');
    for (const { object: app, at } of eachObjectOfKind(argocdTrees(trees), 'Application')) {
      for (const source of sourcesOf(app.spec)) {
        if (!source.chart) continue;
        const revision = source.targetRevision ?? '';
        const fact = chartFact(ledger, source.repoURL, source.chart);
        if (!fact) {
          flag(
            at,
            `chart ${source.chart} from ${source.repoURL} is not in the upstream ledger: read its release upstream and record it under charts in ${UPSTREAM_LEDGER_FILE}`,
          );
          continue;
        }
        if (!fact.released.includes(revision))
          flag(
            at,
            `chart ${source.chart} ${revision} was never seen released upstream (the ledger's released versions: ${fact.released.join(', ')}): pin a released version`,
          );
        else if (revision !== fact.version)
          flag(
            at,
            `chart ${source.chart} is pinned at ${revision}, but the ledger records ${fact.version}: read ${revision} at its release tag and update the ledger entry (version, source.tag, fact)`,
          );
        const values = source.helm?.valuesObject;
        for (const name of trafficRouterPluginNames(values)) {
          if (!Object.values(ledger.plugins).some((p) => p.name === name))
            flag(
              at,
              `traffic-router plugin ${String(name)} is not in the upstream ledger: record it under plugins in ${UPSTREAM_LEDGER_FILE}`,
            );
        }
        for (const container of containersInValues(values))
          checkImage(`${at} values container "${String(container.name)}"`, container.image);
      }
    }
  },
});

const argocdMetricsScrapePortable = defineLedgerRule({
  name: 'argocd-metrics-scrape-portable',
  summary:
    "Argo CD's metrics are scraped in a way both install.yaml and the argo-cd chart serve: a PodMonitor on the controller pods' labels and metrics port number",
  check({ trees, flag, ledger }) {
    const installs = (['argocd-install-controller-metrics', 'argocd-chart-controller-metrics'] as const).map(
      (id) => ({ ...ledger.behaviour(id), data: behaviourData(ledger, id) }),
    );
    for (const tree of argocdTrees(trees)) {
      const monitors = ofKind(tree, 'ServiceMonitor', 'PodMonitor').filter(
        (m) => m.metadata?.namespace === 'argocd',
      );
      for (const monitor of monitors) {
        const at = where(tree, monitor);
        if (monitor.kind === 'ServiceMonitor') {
          flag(
            at,
            `scrapes Argo CD through a Service, but install.yaml and the argo-cd chart name its port differently and the chart renders none by default (${installs.map((f) => cite(ledger, f.id)).join('; ')}): use a PodMonitor on port ${installs[0].data.port}`,
          );
          continue;
        }
        for (const { data, source } of installs) {
          if (!selectorMatches(monitor.spec.selector, data.podLabels))
            flag(
              at,
              `does not select the controller pods of ${source.path} (labels ${JSON.stringify(data.podLabels)})`,
            );
          if (!(monitor.spec.podMetricsEndpoints ?? []).some((e) => e.portNumber === data.port))
            flag(
              at,
              `does not scrape port number ${data.port}, the controller's metrics port in ${source.path} (a port name differs between installations)`,
            );
        }
      }
    }
  },
});

export const upstreamRules = [upstreamPinnedVersions, argocdMetricsScrapePortable];
