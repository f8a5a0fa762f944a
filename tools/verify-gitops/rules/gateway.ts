// Routes on the shared Gateway: every environment attaches its api HTTPRoute to the one Gateway `opsforge`, so
// two routes that can take the same request on the same listener decide who gets it by age, not by intent.
// Gateway API resolves a tie between routes (same hostname, same match) in favour of the oldest route: on a
// cluster running dev, staging and prod, one environment would answer for all three. The facts are in the
// upstream ledger (section gateway).
import { type K8sObject, objectName, type RenderedTree } from '../model';
import { cite, defineLedgerRule } from './ledger';

/** Where a route can attach: a Gateway, and a listener by name or port when the parentRef names one. */
interface Attachment {
  gateway: string;
  sectionName?: string;
  port?: number;
}

interface AttachedRoute {
  tree: RenderedTree;
  route: K8sObject;
  attachment: Attachment;
}

/** A route's parentRefs that are Gateways, resolved to `<namespace>/<name>`. */
function gatewayAttachments(route: K8sObject): Attachment[] {
  return (route.spec?.parentRefs ?? [])
    .filter(
      (parent: K8sObject) =>
        (parent.group ?? 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io' &&
        (parent.kind ?? 'Gateway') === 'Gateway',
    )
    .map((parent: K8sObject) => ({
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

function routeName(route: K8sObject): string {
  return `${route.metadata?.namespace}/${route.metadata?.name}`;
}

/** The hostnames two routes share, in words; undefined when none. A route without hostnames takes every host. */
function sharedHostnames(a: K8sObject, b: K8sObject): string | undefined {
  const hostsA: string[] = a.spec?.hostnames ?? [];
  const hostsB: string[] = b.spec?.hostnames ?? [];
  if (hostsA.length === 0 && hostsB.length === 0) return 'neither sets hostnames, so both take every Host';
  if (hostsA.length === 0) return `${routeName(a)} sets no hostnames, so it also takes ${hostsB.join(', ')}`;
  if (hostsB.length === 0) return `${routeName(b)} sets no hostnames, so it also takes ${hostsA.join(', ')}`;
  const pairs = hostsA.flatMap((x) =>
    hostsB.filter((y) => hostnamesIntersect(x, y)).map((y) => `${x} / ${y}`),
  );
  return pairs.length > 0 ? `both take ${pairs.join(', ')}` : undefined;
}

/** A canonical text of one HTTPRouteMatch, with Gateway API's defaults filled in (no match = PathPrefix /). */
function matchKey(match: K8sObject): string {
  const byName = (list: K8sObject[] | undefined): K8sObject[] =>
    [...(list ?? [])]
      .map((entry) => ({
        type: entry.type ?? 'Exact',
        name: String(entry.name).toLowerCase(),
        value: entry.value,
      }))
      .sort((x, y) => x.name.localeCompare(y.name));
  return JSON.stringify({
    path: { type: match.path?.type ?? 'PathPrefix', value: match.path?.value ?? '/' },
    method: match.method ?? null,
    headers: byName(match.headers),
    queryParams: byName(match.queryParams),
  });
}

function routeMatches(route: K8sObject): string[] {
  return (route.spec?.rules ?? []).flatMap((rule: K8sObject) =>
    (rule.matches?.length ? rule.matches : [{}]).map(matchKey),
  );
}

function describeMatch(key: string): string {
  const { path, method } = JSON.parse(key) as {
    path: { type: string; value: string };
    method: string | null;
  };
  return `${method ? `${method} ` : ''}${path.type} ${path.value}`;
}

const routesNeverTie = defineLedgerRule({
  name: 'gateway-routes-never-tie',
  summary:
    'no two HTTPRoutes, across every environment, can take the same request on one Gateway listener: intersecting hostnames (none = every Host) with an identical match, which Gateway API hands to the oldest route',
  check({ trees, flag, ledger }) {
    const sources = `hostnames: ${cite(ledger, 'gateway-api-httproute-hostnames')}; ties: ${cite(ledger, 'gateway-api-route-tie-goes-to-oldest')}`;
    const attached: AttachedRoute[] = trees.flatMap((tree) =>
      tree.objects
        .filter((object) => object.kind === 'HTTPRoute')
        .flatMap((route) => gatewayAttachments(route).map((attachment) => ({ tree, route, attachment }))),
    );
    attached.forEach((a, index) => {
      for (const b of attached.slice(index + 1)) {
        if (a.route === b.route || !mayShareListener(a.attachment, b.attachment)) continue;
        const hosts = sharedHostnames(a.route, b.route);
        if (hosts === undefined) continue;
        const matchesB = new Set(routeMatches(b.route));
        const common = [...new Set(routeMatches(a.route))].filter((key) => matchesB.has(key));
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

export const gatewayRules = [routesNeverTie];
