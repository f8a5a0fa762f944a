// The Gateway probe against the real blackbox exporter (0.28.0, the chart's appVersion): the module shipped in
// argocd/platform/blackbox-exporter.yaml, asked the way Prometheus asks it for dev's Probe api-gateway, passes
// when dev's hostname reaches the built api through a host-routing stand-in for the Gateway, and fails, so that
// OpsforgeApiGatewayProbeFailing fires, when the route does not take that hostname (404), when something other
// than the api answers 200, and when the api is down.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  BLACKBOX_EXPORTER_BINARY,
  type BlackboxExporter,
  type RunningService,
  startBlackboxExporter,
  startService,
  testQueue,
} from '@opsforge/harness';
import { isMapping, type KubernetesObject, type ObjectOfKind, ofKind } from '../../tools/lib/kubernetes';
import { kustomizeObjects } from '../../tools/lib/kustomize';
import { repoPath, run } from '../test/support/repo';

/** The object of `kind` named `name` a build renders (what this spec stands on; it fails to load without it). */
function renderedObject<K extends string>(
  objects: KubernetesObject[],
  kind: K,
  name: string,
): ObjectOfKind<K> {
  const found = ofKind({ objects }, kind).find((o) => o.metadata?.name === name);
  if (!found) throw new Error(`the build renders no ${kind}/${name}`);
  return found;
}

// The Application as the root Application syncs it (argocd/kustomization.yaml), and dev as Argo CD renders it.
const application = renderedObject(
  kustomizeObjects(repoPath('argocd')),
  'Application',
  'prometheus-blackbox-exporter',
);
const dev = kustomizeObjects(repoPath('gitops', 'envs', 'dev'));
const probe = renderedObject(dev, 'Probe', 'api-gateway');
const route = renderedObject(dev, 'HTTPRoute', 'api');
const probeTarget = probe.spec.targets?.staticConfig?.static?.[0] ?? '';
// '' when the Probe names no module: the test that the exporter configures it then fails.
const probeModule = probe.spec.module ?? '';
// The Host the Probe sends (its `hostname` param, set by the gitops/endpoint component).
const devHostname = probe.spec.params?.find((p) => p.name === 'hostname')?.values?.[0] ?? '';
const routeHostnames = route.spec.hostnames ?? [];
const routePrefixes = (route.spec.rules ?? []).flatMap((rule) =>
  (rule.matches ?? []).flatMap((m) =>
    m.path?.type === 'PathPrefix' && m.path.value !== undefined ? [m.path.value] : [],
  ),
);
// The exporter's configuration: the chart's free-form values, read as unknown.
const helmValues: unknown = application.spec.source?.helm?.valuesObject;
const exporterConfig = isMapping(helmValues) ? helmValues.config : undefined;
const exporterModules =
  isMapping(exporterConfig) && isMapping(exporterConfig.modules) ? exporterConfig.modules : {};

/** Starts a node:http server on a spare loopback port. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The Gateway's part: a request whose Host is one of the route's hostnames and whose path one of its prefixes
 * goes to the backend, anything else is 404 (Gateway API: no route matched), an unreachable backend 503.
 */
function gatewayStandIn(backend: () => string): Server {
  return createServer((incoming, answer) => {
    const host = (incoming.headers.host ?? '').replace(/:\d+$/, '');
    const url = incoming.url ?? '/';
    if (!routeHostnames.includes(host) || !routePrefixes.some((prefix) => url.startsWith(prefix))) {
      answer.writeHead(404).end();
      return;
    }
    const upstream = request(
      new URL(url, backend()),
      { method: incoming.method, headers: incoming.headers },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    upstream.on('error', () => answer.writeHead(503).end('no healthy upstream'));
    incoming.pipe(upstream);
  });
}

describe('the Gateway probe (http_api_status) against the real blackbox exporter', () => {
  const queue = testQueue('gateway-probe');
  let workDir: string;
  let configFile: string;
  let exporter: BlackboxExporter;
  let api: RunningService;
  let gateway: Server;
  let gatewayUrl: string;
  let other: Server;
  // The backend the route sends to: the api, or another service answering 200.
  let useOther = false;

  /** GET /probe as Prometheus sends it for the Probe (module, the Probe's params, target), with `hostname`. */
  async function probeSuccess(hostname: string): Promise<number> {
    const target = new URL(probeTarget);
    const query = new URLSearchParams({ module: probeModule });
    for (const param of probe.spec.params ?? [])
      for (const value of param.values ?? [])
        query.append(param.name, param.name === 'hostname' ? hostname : value);
    // The Gateway's in-cluster Service is the stand-in here; the path is the Probe's.
    query.set('target', new URL(target.pathname + target.search, gatewayUrl).toString());
    const answer = await fetch(`${exporter.url}${probe.spec.prober?.path ?? '/probe'}?${query.toString()}`);
    const body = await answer.text();
    expect(answer.status).toBe(200);
    const value = /^probe_success (\S+)$/m.exec(body)?.[1];
    if (value === undefined) throw new Error(`no probe_success in the exporter's answer:\n${body}`);
    return Number(value);
  }

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'opsforge-blackbox-'));
    // What the chart writes into blackbox.yaml: `toYaml .Values.config` (templates/configmap.yaml, chart 11.17.2).
    configFile = path.join(workDir, 'blackbox.yaml');
    writeFileSync(configFile, stringify(exporterConfig));
    api = await startService('api', { env: queue.env });
    // Another backend behind the same route: 200, but not the api's status page.
    other = createServer((_incoming, answer) => {
      answer.writeHead(200, { 'content-type': 'application/json' }).end('{"service":"web"}');
    });
    const otherUrl = await listen(other);
    gateway = gatewayStandIn(() => (useOther ? otherUrl : api.url));
    gatewayUrl = await listen(gateway);
    exporter = await startBlackboxExporter({ configFile });
  });

  afterAll(async () => {
    await exporter?.stop();
    await Promise.all([gateway, other].map((s) => s && new Promise((resolve) => s.close(resolve))));
    await api?.stop();
    await queue.deleteKeys();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('probes what dev renders: the module is the Application’s, the hostname the route’s', () => {
    expect(application.spec.source?.chart).toBe('prometheus-blackbox-exporter');
    expect(Object.keys(exporterModules)).toContain(probe.spec.module);
    expect(route.spec.hostnames).toEqual([devHostname]);
  });

  it('the exporter accepts the configuration (--config.check)', async () => {
    const result = await run(BLACKBOX_EXPORTER_BINARY, ['--config.check', `--config.file=${configFile}`]);
    expect({ code: result.code, output: result.stdout + result.stderr }).toEqual({
      code: 0,
      output: expect.stringContaining('Config file is ok') as string,
    });
  });

  it("succeeds with dev's hostname: the api answers its status page through the route", async () => {
    expect(await probeSuccess(devHostname)).toBe(1);
  });

  it('fails with a hostname the route does not take (404)', async () => {
    expect(await probeSuccess('api.other.opsforge.example.com')).toBe(0);
    expect(exporter.output()).toContain('status_code=404');
  });

  it('fails when something other than the api answers 200', async () => {
    useOther = true;
    try {
      expect(await probeSuccess(devHostname)).toBe(0);
    } finally {
      useOther = false;
    }
    expect(exporter.output()).toContain('Body did not match regular expression');
  });

  it('fails when the api is down', async () => {
    expect(await api.stop()).toEqual({ code: 0, signal: null });
    expect(await probeSuccess(devHostname)).toBe(0);
    expect(exporter.output()).toContain('status_code=503');
  });
});
