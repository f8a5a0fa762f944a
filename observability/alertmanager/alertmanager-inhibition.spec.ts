// amtool does not evaluate inhibition, so this runs the real Alertmanager on a loopback port with the same
// configuration file, posts alerts as Prometheus would, and reads back which ones Alertmanager suppresses.
// Its receivers deliver to a local HTTP sink, which also proves the secret-file wiring of the receivers.
import { createServer, type Server } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type AlertmanagerServer, startAlertmanager, waitFor } from '@opsforge/harness';

const configFile = path.join(__dirname, 'alertmanager.yaml');
const SECRETS_DIR = '/etc/alertmanager/secrets/alertmanager-receivers/';
const SECRET_KEYS = [
  'pagerduty-routing-key',
  'slack-api-webhook-url',
  'slack-worker-webhook-url',
  'slack-sre-webhook-url',
  'deadmans-switch-url',
];

type Labels = Record<string, string>;
interface ApiAlert {
  labels: Labels;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[] };
}

let alertmanager: AlertmanagerServer;
let sink: Server;
/** Every notification Alertmanager delivered: the path it posted to (one per receiver) and the body. */
const delivered: Array<{ path: string; body: string }> = [];

beforeAll(async () => {
  // Each endpoint answers as the real service does, because Alertmanager judges the reply: a Slack incoming
  // webhook answers the text `ok` (anything else is a failed notification since 0.26), PagerDuty's Events API v2
  // 202 with JSON, a dead man's switch (healthchecks.io) the text `OK`.
  sink = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const url = request.url ?? '';
      delivered.push({ path: url, body });
      if (url.startsWith('/slack-')) response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      else if (url === '/pagerduty')
        response
          .writeHead(202, { 'content-type': 'application/json' })
          .end('{"status":"success","message":"Event processed"}');
      else response.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;

  // The changes to the file under test: its receivers' secret files live in Alertmanager's work directory and
  // point at the sink, and PagerDuty's API URL (a global default the file does not set) is the sink too, so
  // nothing is ever sent off this machine.
  alertmanager = await startAlertmanager({
    config: (workDir) => {
      const secretsDir = path.join(workDir, 'secrets');
      mkdirSync(secretsDir);
      for (const key of SECRET_KEYS) {
        writeFileSync(
          path.join(secretsDir, key),
          key.endsWith('-url') ? `${sinkUrl}/${key}` : 'test-routing-key',
        );
      }
      const config = readFileSync(configFile, 'utf8')
        .split(SECRETS_DIR)
        .join(`${secretsDir}/`)
        .replace(/^global:\n/m, `global:\n  pagerduty_url: ${sinkUrl}/pagerduty\n`);
      expect(config).toContain(`pagerduty_url: ${sinkUrl}/pagerduty`);
      return config;
    },
  });
});

afterAll(async () => {
  await alertmanager?.stop();
  await new Promise((resolve) => sink?.close(resolve));
});

async function post(alerts: Labels[], summaries: string[] = []): Promise<void> {
  const startsAt = new Date().toISOString();
  const response = await fetch(`${alertmanager.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      alerts.map((labels, i) => ({
        labels,
        annotations: { summary: summaries[i] ?? `${labels.alertname} in ${labels.namespace ?? labels.node}` },
        startsAt,
      })),
    ),
  });
  expect(response.status).toBe(200);
}

/** Alertmanager's own counters, `name{labels}` -> value, from its /metrics. */
async function alertmanagerMetrics(prefix: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${alertmanager.url}/metrics`)).text();
  const result: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(\S+) (\S+)$/.exec(line);
    if (match && match[1].startsWith(prefix)) result[match[1]] = Number(match[2]);
  }
  return result;
}

/** How an alert is told apart in a case: `alertname/severity/namespace/node/workload` (those it has). */
function stateKey({ alertname, severity, namespace, node, workload }: Labels): string {
  return [alertname, severity, namespace, node, workload].filter(Boolean).join('/');
}

/** State of every alert that `match`es, keyed by `stateKey`. */
async function states(match: (labels: Labels) => boolean): Promise<Record<string, string>> {
  const alerts = (await (await fetch(`${alertmanager.url}/api/v2/alerts`)).json()) as ApiAlert[];
  const result: Record<string, string> = {};
  for (const alert of alerts.filter((a) => match(a.labels)))
    result[stateKey(alert.labels)] = alert.status.state;
  return result;
}

/** Alerts reach the inhibitor asynchronously; poll until Alertmanager's view settles, then compare. */
async function expectStates(
  match: (labels: Labels) => boolean,
  expected: Record<string, string>,
): Promise<void> {
  const sorted = (record: Record<string, string>) => JSON.stringify(Object.entries(record).sort());
  let last: Record<string, string> = {};
  await waitFor(
    'the expected alert states',
    async () => {
      last = await states(match);
      return sorted(last) === sorted(expected);
    },
    10_000,
  ).catch(() => undefined);
  expect(last).toEqual(expected);
}

const inNamespace =
  (...names: string[]) =>
  (labels: Labels) =>
    names.includes(labels.namespace);

/** An alert's labels: its name, severity and (when it has one) team, then where it fires. */
const alert = (alertname: string, severity: string, team: string | undefined, where: Labels): Labels => ({
  alertname,
  severity,
  ...(team ? { team } : {}),
  ...where,
});

/** The alerts a case fires, by the state Alertmanager must give each: each alert is written once, under its verdict. */
interface InhibitionCase {
  title: string;
  /** Which alerts the case reads back (each case fires in namespaces or nodes of its own). */
  match: (labels: Labels) => boolean;
  active: Labels[];
  suppressed: Labels[];
}

const INHIBITION_CASES: InhibitionCase[] = [
  {
    title: 'a critical alert mutes the warning of the same alert in the same namespace only',
    match: inNamespace('inh-a', 'inh-b'),
    active: [
      alert('OpsforgeRedisMemoryNearMax', 'critical', 'sre', { namespace: 'inh-a' }),
      alert('OpsforgeRedisMemoryNearMax', 'warning', 'sre', { namespace: 'inh-b' }),
      alert('OpsforgeRedisVolumeFillingUp', 'warning', 'sre', { namespace: 'inh-a' }),
    ],
    suppressed: [alert('OpsforgeRedisMemoryNearMax', 'warning', 'sre', { namespace: 'inh-a' })],
  },
  {
    title:
      'Redis down mutes the symptoms it causes in its namespace, not unrelated alerts or other namespaces',
    match: inNamespace('inh-c', 'inh-d'),
    active: [
      alert('OpsforgeRedisDown', 'critical', 'sre', { namespace: 'inh-c', workload: 'redis' }),
      alert('OpsforgeJobFailureRatioHigh', 'warning', 'worker', { namespace: 'inh-c', workload: 'worker' }),
      alert('OpsforgeJobEnqueueErrors', 'warning', 'api', { namespace: 'inh-d', workload: 'api' }),
    ],
    suppressed: [
      alert('OpsforgeJobEnqueueErrors', 'warning', 'api', { namespace: 'inh-c', workload: 'api' }),
      alert('OpsforgeWorkerStuck', 'critical', 'worker', { namespace: 'inh-c', workload: 'worker' }),
      alert('OpsforgeApiAvailabilityBudgetBurn', 'critical', 'api', { namespace: 'inh-c', workload: 'api' }),
    ],
  },
  {
    title: "a service down mutes that workload's symptoms, not the other workload's",
    match: inNamespace('inh-e'),
    active: [
      alert('OpsforgeServiceDown', 'critical', 'worker', { namespace: 'inh-e', workload: 'worker' }),
      alert('OpsforgeTargetDown', 'warning', 'api', { namespace: 'inh-e', workload: 'api' }),
    ],
    suppressed: [
      alert('OpsforgeTargetDown', 'warning', 'worker', { namespace: 'inh-e', workload: 'worker' }),
      alert('OpsforgeWorkerStuck', 'critical', 'worker', { namespace: 'inh-e', workload: 'worker' }),
    ],
  },
  {
    title: "every api pod down mutes the api's failing Gateway probe there, not a Gateway fault elsewhere",
    match: inNamespace('inh-j', 'inh-k'),
    active: [
      alert('OpsforgeServiceDown', 'critical', 'api', { namespace: 'inh-j', workload: 'api' }),
      alert('OpsforgeApiGatewayProbeFailing', 'critical', 'sre', { namespace: 'inh-k', workload: 'api' }),
    ],
    suppressed: [
      alert('OpsforgeApiGatewayProbeFailing', 'critical', 'sre', { namespace: 'inh-j', workload: 'api' }),
    ],
  },
  {
    title: 'a node not ready mutes the alerts of pods on that node, and nothing on other nodes',
    match: (labels) => labels.node?.startsWith('inh-node') ?? false,
    active: [
      alert('OpsforgeNodeNotReady', 'critical', 'sre', { node: 'inh-node-1' }),
      alert('OpsforgePodCrashLooping', 'warning', 'api', { namespace: 'inh-f', node: 'inh-node-2' }),
    ],
    suppressed: [
      alert('OpsforgePodCrashLooping', 'warning', 'api', { namespace: 'inh-f', node: 'inh-node-1' }),
      alert('OpsforgePodNotReady', 'warning', 'worker', { namespace: 'inh-f', node: 'inh-node-1' }),
    ],
  },
  {
    title:
      "the chart's info handling: InfoInhibitor mutes info alerts in its namespace, not beside a warning",
    match: inNamespace('inh-g', 'inh-h', 'inh-i'),
    active: [
      alert('KubeQuotaAlmostFull', 'info', undefined, { namespace: 'inh-h' }),
      alert('KubeDeploymentReplicasMismatch', 'warning', undefined, { namespace: 'inh-h' }),
      alert('CPUThrottlingHigh', 'warning', undefined, { namespace: 'inh-i' }),
    ],
    suppressed: [
      alert('InfoInhibitor', 'none', undefined, { namespace: 'inh-g' }),
      alert('KubeQuotaAlmostFull', 'info', undefined, { namespace: 'inh-g' }),
      alert('CPUThrottlingHigh', 'info', undefined, { namespace: 'inh-i' }),
    ],
  },
];

describe('Alertmanager inhibition (real Alertmanager)', () => {
  it.each(INHIBITION_CASES)('$title', async ({ match, active, suppressed }) => {
    await post([...active, ...suppressed]);
    await expectStates(
      match,
      Object.fromEntries([
        ...active.map((labels) => [stateKey(labels), 'active']),
        ...suppressed.map((labels) => [stateKey(labels), 'suppressed']),
      ]),
    );
  });

  it("sends the Watchdog heartbeat to the dead man's switch as a webhook, and Alertmanager counts it delivered", async () => {
    await post([{ alertname: 'Watchdog', severity: 'none', team: 'sre' }]);
    await waitFor(
      'the heartbeat',
      () => delivered.some((d) => d.path === '/deadmans-switch-url'),
      10_000,
    ).catch(() => undefined);
    const heartbeat = delivered.find((d) => d.path === '/deadmans-switch-url');
    expect(JSON.parse(heartbeat?.body ?? '{}')).toMatchObject({
      receiver: 'deadmans-switch',
      status: 'firing',
      alerts: [{ labels: { alertname: 'Watchdog' } }],
    });
    const metrics = await alertmanagerMetrics('alertmanager_notifications_');
    expect(metrics['alertmanager_notifications_total{integration="webhook"}']).toBeGreaterThanOrEqual(1);
    // The reason it is no slack_config: a Slack notifier would count this `OK` reply as a failure.
    const failed = Object.entries(metrics).filter(
      ([name, value]) => name.startsWith('alertmanager_notifications_failed_total') && value > 0,
    );
    expect(failed).toEqual([]);
  }, 20_000);

  it('a page for a group of two alerts with different summaries still carries a summary', async () => {
    await post(
      [
        {
          alertname: 'OpsforgePodCrashLooping',
          severity: 'critical',
          team: 'sre',
          namespace: 'notify-b',
          pod: 'api-1',
        },
        {
          alertname: 'OpsforgePodCrashLooping',
          severity: 'critical',
          team: 'sre',
          namespace: 'notify-b',
          pod: 'worker-1',
        },
      ],
      ['Pod notify-b/api-1 is crash looping', 'Pod notify-b/worker-1 is crash looping'],
    );
    const isPage = (d: { path: string; body: string }) =>
      d.path === '/pagerduty' && d.body.includes('worker-1') && d.body.includes('api-1');
    await waitFor('the page for both alerts', () => delivered.some(isPage), 20_000).catch(() => undefined);
    const page = JSON.parse(delivered.find(isPage)?.body ?? '{}') as {
      payload?: { summary?: string; custom_details?: Record<string, string> };
    };
    // Their common annotations hold no summary: the page falls back to the alert name, the count and the first.
    expect(page.payload?.summary).toMatch(
      /^OpsforgePodCrashLooping: 2 firing in notify-b, first: Pod notify-b\/(api|worker)-1 is crash looping$/,
    );
    expect(page.payload?.custom_details?.summaries).toContain('Pod notify-b/worker-1 is crash looping');
  }, 30_000);

  it('delivers a page to the SRE pager and the owning team, reading both endpoints from the secret files', async () => {
    await post([
      {
        alertname: 'OpsforgeWorkerStuck',
        severity: 'critical',
        team: 'worker',
        namespace: 'notify-a',
        workload: 'worker',
      },
    ]);
    // Pages wait group_wait (10 s) before the first notification.
    await waitFor(
      'the page and the team notification',
      () =>
        delivered.some((d) => d.path === '/pagerduty' && d.body.includes('notify-a')) &&
        delivered.some(
          (d) => d.path === '/slack-worker-webhook-url' && d.body.includes('OpsforgeWorkerStuck'),
        ),
      20_000,
    ).catch(() => undefined);
    const page = delivered.find((d) => d.path === '/pagerduty' && d.body.includes('notify-a'));
    expect(JSON.parse(page?.body ?? '{}')).toMatchObject({
      routing_key: 'test-routing-key',
      event_action: 'trigger',
      payload: { summary: 'OpsforgeWorkerStuck in notify-a', severity: 'critical' },
    });
    const team = delivered.find(
      (d) => d.path === '/slack-worker-webhook-url' && d.body.includes('OpsforgeWorkerStuck'),
    );
    expect(JSON.parse(team?.body ?? '{}')).toMatchObject({ channel: '#opsforge-worker' });
    // Nothing for this alert went to another team.
    expect(
      delivered
        .filter((d) => d.body.includes('notify-a'))
        .map((d) => d.path)
        .sort(),
    ).toEqual(['/pagerduty', '/slack-worker-webhook-url']);
  }, 30_000);
});
