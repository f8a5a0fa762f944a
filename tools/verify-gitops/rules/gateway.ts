// Routes on the shared Gateway: every environment attaches its api HTTPRoute to the one Gateway `opsforge`, so
// two routes that can take the same request on the same listener decide who gets it by age, not by intent.
// Gateway API resolves a tie between routes (same hostname, same match) in favour of the oldest route: on a
// cluster running dev, staging and prod, one environment would answer for all three. And each environment is
// probed through the Gateway as its users reach it: the Probe must send the route's hostname, to a path the
// route takes, through a blackbox exporter and module that exist, and be one the stack's Prometheus selects.
// The facts are in the upstream ledger (sections gateway and observability).
import {
  type ILabelSelector,
  isMapping,
  type ObjectOfKind,
  objectName,
  ofKind,
  selectorMatches,
} from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { LABEL_SELECTOR } from './canary';
import { argocdTrees, eachObjectOfKind, envTrees } from './define-rule';
import { behaviourData, cite, defineLedgerRule, valueAt } from './ledger';

/** Where a route can attach: a Gateway, and a listener by name or port when the parentRef names one. */
interface Attachment {
  gateway: string;
  sectionName?: string;
  port?: number;
}

type HTTPRoute = ObjectOfKind<'HTTPRoute'>;
type HTTPRouteMatch = NonNullable<NonNullable<HTTPRoute['spec']['rules']>[number]['matches']>[number];

interface AttachedRoute {
  tree: RenderedTree;
  route: HTTPRoute;
  attachment: Attachment;
}

/** A route's parentRefs that are Gateways, resolved to `<namespace>/<name>`. */
function gatewayAttachments(route: HTTPRoute): Attachment[] {
  return (route.spec.parentRefs ?? [])
    .filter(
      (parent) =>
        (parent.group ?? 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io' &&
        (parent.kind ?? 'Gateway') === 'Gateway',
    )
    .map((parent) => ({
      gateway: `${parent.namespace ?? route.metadata?.namespace ?? 'default'}/${parent.name}`,
      sectionName: parent.sectionName,
      port: parent.port,
    }));
}

/** Two parentRefs can land on one listener unless both pin it and the pins differ. */
function mayShareListener(a: Attachment, b: Attachment): boolean {
  if (a.gateway !== b.gateway) return false;
  if (a.sectionName !== undefined && b.sectionName !== undefined && a.sectionName !== b.sectionName)
    return false;
  return !(a.port !== undefined && b.port !== undefined && a.port !== b.port);
}

/** Whether one request's Host can match both hostnames (`*.` is a suffix of at least one more label). */
function hostnamesIntersect(a: string, b: string): boolean {
  const matches = (pattern: string, host: string): boolean =>
    pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : pattern === host;
  if (a.startsWith('*.') && b.startsWith('*.')) return a.endsWith(b.slice(1)) || b.endsWith(a.slice(1));
  return matches(a, b) || matches(b, a);
}

function routeName(route: HTTPRoute): string {
  return `${route.metadata?.namespace}/${route.metadata?.name}`;
}

/** The hostnames two routes share, in words; undefined when none. A route without hostnames takes every host. */
function sharedHostnames(a: HTTPRoute, b: HTTPRoute): string | undefined {
  const hostsA = a.spec.hostnames ?? [];
  const hostsB = b.spec.hostnames ?? [];
  if (hostsA.length === 0 && hostsB.length === 0) return 'neither sets hostnames, so both take every Host';
  if (hostsA.length === 0) return `${routeName(a)} sets no hostnames, so it also takes ${hostsB.join(', ')}`;
  if (hostsB.length === 0) return `${routeName(b)} sets no hostnames, so it also takes ${hostsA.join(', ')}`;
  const pairs = hostsA.flatMap((x) =>
    hostsB.filter((y) => hostnamesIntersect(x, y)).map((y) => `${x} / ${y}`),
  );
  return pairs.length > 0 ? `both take ${pairs.join(', ')}` : undefined;
}

/** One HTTPRouteMatch with Gateway API's defaults filled in (no match = PathPrefix /), and a canonical key. */
interface CanonicalMatch {
  key: string;
  path: { type: string; value: string };
  method?: string;
}

function canonicalMatch(match: HTTPRouteMatch): CanonicalMatch {
  const byName = (list: readonly { type?: string; name: string; value: string }[] | undefined) =>
    [...(list ?? [])]
      .map((entry) => ({ type: entry.type ?? 'Exact', name: entry.name.toLowerCase(), value: entry.value }))
      .sort((x, y) => x.name.localeCompare(y.name));
  const path = { type: match.path?.type ?? 'PathPrefix', value: match.path?.value ?? '/' };
  const key = JSON.stringify({
    path,
    method: match.method ?? null,
    headers: byName(match.headers),
    queryParams: byName(match.queryParams),
  });
  return { key, path, method: match.method };
}

function routeMatches(route: HTTPRoute): CanonicalMatch[] {
  return (route.spec.rules ?? []).flatMap((rule) =>
    (rule.matches?.length ? rule.matches : [{}]).map(canonicalMatch),
  );
}

function describeMatch({ path, method }: CanonicalMatch): string {
  return `${method ? `${method} ` : ''}${path.type} ${path.value}`;
}

const routesNeverTie = defineLedgerRule({
  name: 'gateway-routes-never-tie',
  summary:
    'no two HTTPRoutes, across every environment, can take the same request on one Gateway listener: intersecting hostnames (none = every Host) with an identical match, which Gateway API hands to the oldest route',
  check({ trees, flag, ledger }) {
    const sources = `hostnames: ${cite(ledger, 'gateway-api-httproute-hostnames')}; ties: ${cite(ledger, 'gateway-api-route-tie-goes-to-oldest')}`;
    const attached: AttachedRoute[] = trees.flatMap((tree) =>
      ofKind(tree, 'HTTPRoute').flatMap((route) =>
        gatewayAttachments(route).map((attachment) => ({ tree, route, attachment })),
      ),
    );
    attached.forEach((a, index) => {
      for (const b of attached.slice(index + 1)) {
        if (a.route === b.route || !mayShareListener(a.attachment, b.attachment)) continue;
        const hosts = sharedHostnames(a.route, b.route);
        if (hosts === undefined) continue;
        const keysB = new Set(routeMatches(b.route).map((match) => match.key));
        const matchesA = new Map(routeMatches(a.route).map((match) => [match.key, match]));
        const common = [...matchesA.values()].filter((match) => keysB.has(match.key));
        if (common.length === 0) continue;
        flag(
          `${a.tree.source}: ${objectName(a.route)} and ${b.tree.source}: ${objectName(b.route)}`,
          `HTTPRoutes ${routeName(a.route)} and ${routeName(b.route)} attach to Gateway ${a.attachment.gateway} on the same listener, ${hosts}, ` +
            `and both match ${common.map(describeMatch).join(', ')}: Gateway API gives such a request to the older ` +
            `route only (${sources}), so the younger route's environment gets none of it. Give each environment ` +
            `its own hostname (gitops/envs/<env>/endpoint.yaml)`,
        );
      }
    });
  },
});

/** The Application in the argocd tree that installs `chart`, with its Helm values, release and namespace. */
function chartApplication(
  trees: RenderedTree[],
  chart: string,
): { at: string; values: unknown; release: string; namespace: string | undefined } | undefined {
  for (const { object: application, at } of eachObjectOfKind(argocdTrees(trees), 'Application')) {
    const source = [application.spec.source, ...(application.spec.sources ?? [])].find(
      (candidate) => candidate?.chart === chart,
    );
    if (source)
      return {
        at,
        values: source.helm?.valuesObject,
        release: source.helm?.releaseName ?? application.metadata?.name ?? '',
        namespace: application.spec.destination.namespace,
      };
  }
  return undefined;
}

/** Whether a route rule of `route` takes a request for `path` (PathPrefix and Exact matches). */
function routed(route: HTTPRoute, path: string): boolean {
  return routeMatches(route).some(({ path: match }) => {
    if (match.type === 'Exact') return path === match.value;
    const prefix = match.value.replace(/\/$/, '');
    return match.type === 'PathPrefix' && (path === prefix || path.startsWith(`${prefix}/`) || prefix === '');
  });
}

const probePerEnvironment = defineLedgerRule({
  name: 'gateway-probe-per-environment',
  summary:
    "every environment with a route on a Gateway has a Probe the stack's Prometheus selects, sending that route's hostname to a path it routes, through a module and Service the blackbox exporter Application really has",
  check({ trees, flag, ledger }) {
    const { parameter: hostParameter } = behaviourData(ledger, 'blackbox-exporter-hostname-parameter');
    const serviceName = behaviourData(ledger, 'blackbox-exporter-chart-service-name');
    const selection = behaviourData(ledger, 'kube-prometheus-stack-probe-selector');
    const exporter = chartApplication(trees, serviceName.chart);
    const stack = chartApplication(trees, selection.chart);
    const nilUsesHelmValuesValue = valueAt(
      stack?.values,
      'prometheus.prometheusSpec.probeSelectorNilUsesHelmValues',
    );
    const nilUsesHelmValues =
      typeof nilUsesHelmValuesValue === 'boolean'
        ? nilUsesHelmValuesValue
        : selection.nilUsesHelmValuesDefault;
    const configuredValue = valueAt(stack?.values, 'prometheus.prometheusSpec.probeSelector');
    const configured = LABEL_SELECTOR.safeParse(configuredValue ?? {});
    if (stack && !configured.success)
      flag(
        stack.at,
        'values prometheus.prometheusSpec.probeSelector is not a label selector: the Probes Prometheus selects cannot be checked',
      );
    const probeSelector: ILabelSelector | undefined = !configured.success
      ? undefined
      : Object.keys(configured.data).length > 0
        ? configured.data
        : nilUsesHelmValues
          ? { matchLabels: { release: stack?.release ?? '' } }
          : {};
    const fullnameOverride = valueAt(exporter?.values, 'fullnameOverride');
    const exporterService = exporter
      ? `${typeof fullnameOverride === 'string' ? fullnameOverride : exporter.release.includes(serviceName.chart) ? exporter.release : `${exporter.release}-${serviceName.chart}`}.${exporter.namespace}.svc:${serviceName.port}`
      : undefined;
    const exporterModules = valueAt(exporter?.values, 'config.modules');
    // The jobs the alert and the SLO rules read probe_success by: the Probe's series must carry one of them.
    const jobsRead = new Set(
      trees
        .filter((tree) => tree.role === 'application-source')
        .flatMap((tree) => ofKind(tree, 'PrometheusRule'))
        .flatMap((rule) => (rule.spec.groups ?? []).flatMap((group) => group.rules ?? []))
        .flatMap((rule) => [...String(rule.expr ?? '').matchAll(/probe_success\{[^}]*?job="([^"]+)"/g)])
        .map((match) => match[1]),
    );
    for (const env of envTrees(trees)) {
      for (const route of ofKind(env, 'HTTPRoute').filter((r) => gatewayAttachments(r).length > 0)) {
        const hostnames = route.spec.hostnames ?? [];
        const probes = ofKind(env, 'Probe').filter((probe) =>
          (probe.spec.targets?.staticConfig?.static ?? []).some((target) => {
            try {
              return routed(route, new URL(target).pathname);
            } catch {
              return false;
            }
          }),
        );
        if (probes.length === 0) {
          flag(
            where(env, route),
            `no Probe requests a path this route takes: a total outage or a Gateway fault in front of the pods would go unseen (gitops/base/api/gateway-probe.yaml)`,
          );
          continue;
        }
        for (const probe of probes) {
          const report = (message: string) => flag(where(env, probe), message);
          const host = (probe.spec.params ?? []).find((p) => p.name === hostParameter)?.values?.[0];
          if (host === undefined || !hostnames.includes(host))
            report(
              `sends Host ${host ?? '(none)'} (parameter ${hostParameter}, ${cite(ledger, 'blackbox-exporter-hostname-parameter')}) but ${objectName(route)} answers ${hostnames.join(', ') || 'every Host'}: it would probe another environment, or none`,
            );
          const job = probe.spec.jobName ?? `probe/${probe.metadata?.namespace}/${probe.metadata?.name}`;
          if (jobsRead.size > 0 && !jobsRead.has(job))
            report(
              `its series carry job="${job}" (${cite(ledger, 'prometheus-operator-probe-labels')}) but the rules read probe_success by job ${[...jobsRead].map((j) => `"${j}"`).join(', ')}: neither OpsforgeApiGatewayProbeFailing nor the outage budget would see it`,
            );
          if (probeSelector && !selectorMatches(probeSelector, probe.metadata?.labels ?? {}))
            report(
              `lacks the labels ${JSON.stringify(probeSelector.matchLabels ?? {})} the ${selection.chart} Prometheus selects Probes by (${cite(ledger, 'kube-prometheus-stack-probe-selector')}): it would never run`,
            );
          if (!exporter) {
            report(`no Application in argocd/ installs the ${serviceName.chart} chart that would run it`);
            continue;
          }
          if (probe.spec.prober?.url !== exporterService)
            report(
              `prober.url is ${probe.spec.prober?.url} but the ${serviceName.chart} Application's Service is ${exporterService} (${cite(ledger, 'blackbox-exporter-chart-service-name')})`,
            );
          const modules = isMapping(exporterModules) ? exporterModules : {};
          if (!(probe.spec.module !== undefined && modules[probe.spec.module]))
            report(
              `module ${probe.spec.module} is not one the ${serviceName.chart} Application configures (${Object.keys(modules).join(', ')})`,
            );
        }
      }
    }
  },
});

export const gatewayRules = [routesNeverTie, probePerEnvironment];
