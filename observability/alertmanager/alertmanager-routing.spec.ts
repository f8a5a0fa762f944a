// The routing tree, checked by the real amtool: every team and severity reaches the receivers the on-call
// model in docs/incident-response.md promises, and no receiver endpoint is written in git.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { run } from '../test/support/repo';

const configFile = path.join(__dirname, 'alertmanager.yaml');

interface AlertmanagerConfig {
  route: { routes: Array<{ matchers?: string[]; receiver: string }> };
  receivers: Array<{ name: string } & Record<string, unknown[] | string | undefined>>;
}

/**
 * What the upstream facts forbid on the receiver the Watchdog goes to: Alertmanager's Slack notifier counts every
 * reply but `ok` as a failed notification (a dead man's switch answers `OK`), and webhook_config reads its URL
 * from a file (so the switch's secret URL stays out of git).
 */
function heartbeatReceiverProblems(config: AlertmanagerConfig): string[] {
  const route = config.route.routes.find((r) => r.matchers?.includes('alertname="Watchdog"'));
  const receiver = config.receivers.find((r) => r.name === route?.receiver);
  if (!route || !receiver) return ['no route for the Watchdog to a receiver'];
  const problems: string[] = [];
  if (receiver.slack_configs)
    problems.push(
      `${receiver.name}: slack_configs (the Slack notifier counts every reply but "ok" as a failure: slack-notifier-reply-rule)`,
    );
  const webhooks = (receiver.webhook_configs ?? []) as Array<{ url_file?: string }>;
  if (webhooks.length === 0 || webhooks.some((w) => !w.url_file))
    problems.push(`${receiver.name}: no webhook_configs with url_file (webhook-url-file)`);
  return problems;
}

async function routesTo(labels: Record<string, string>, expected: string[]) {
  const args = Object.entries(labels).map(([name, value]) => `${name}=${value}`);
  return run('amtool', [
    'config',
    'routes',
    'test',
    `--config.file=${configFile}`,
    `--verify.receivers=${expected.join(',')}`,
    ...args,
  ]);
}

describe('Alertmanager routing', () => {
  it('passes amtool check-config', async () => {
    const result = await run('amtool', ['check-config', configFile]);
    expect(result.stdout).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it.each([
    // team, severity, receivers in the order Alertmanager notifies them, for an alert in prod
    ['api', 'critical', ['sre-pager', 'api-team']],
    ['api', 'warning', ['api-team']],
    ['worker', 'critical', ['sre-pager', 'worker-team']],
    ['worker', 'warning', ['worker-team']],
    ['sre', 'critical', ['sre-pager', 'sre-team']],
    ['sre', 'warning', ['sre-team']],
  ])('team=%s severity=%s goes to %j', async (team, severity, receivers) => {
    const result = await routesTo({ alertname: 'AnyAlert', namespace: 'prod', team, severity }, receivers);
    expect(result.stdout.trim()).toBe(receivers.join(','));
    expect(result.code).toBe(0);
  });

  it.each([
    ['dev', 'api', ['api-team']],
    ['staging', 'worker', ['worker-team']],
  ])('a critical alert in %s goes to the %s team only, paging nobody', async (namespace, team, receivers) => {
    const result = await routesTo(
      { alertname: 'AnyAlert', namespace, team, severity: 'critical' },
      receivers,
    );
    expect(result.stdout.trim()).toBe(receivers.join(','));
    expect(result.code).toBe(0);
  });

  it('a critical cluster-wide alert (no namespace, like a node) pages SRE', async () => {
    const receivers = ['sre-pager', 'sre-team'];
    const labels = { alertname: 'OpsforgeNodeNotReady', node: 'node-a', team: 'sre', severity: 'critical' };
    const result = await routesTo(labels, receivers);
    expect(result.stdout.trim()).toBe(receivers.join(','));
    expect(result.code).toBe(0);
  });

  it("sends the Watchdog to the dead man's switch only, not to a pager", async () => {
    const result = await routesTo({ alertname: 'Watchdog', severity: 'none', team: 'sre' }, [
      'deadmans-switch',
    ]);
    expect(result.stdout.trim()).toBe('deadmans-switch');
    expect(result.code).toBe(0);
  });

  it("sends the chart's InfoInhibitor to the null receiver, which notifies nobody", async () => {
    const result = await routesTo({ alertname: 'InfoInhibitor', severity: 'none', namespace: 'prod' }, [
      'null',
    ]);
    expect(result.stdout.trim()).toBe('null');
    expect(result.code).toBe(0);
    const config = parse(readFileSync(configFile, 'utf8')) as AlertmanagerConfig;
    expect(config.receivers.find((r) => r.name === 'null')).toEqual({ name: 'null' });
  });

  it("the heartbeat receiver is a webhook reading its URL from a file, never Slack (the ledger's notifier facts)", () => {
    const config = parse(readFileSync(configFile, 'utf8')) as AlertmanagerConfig;
    expect(heartbeatReceiverProblems(config)).toEqual([]);
    // The broken example: the heartbeat as it was, a slack_config.
    const broken = structuredClone(config);
    const receiver = broken.receivers.find((r) => r.name === 'deadmans-switch');
    if (!receiver) throw new Error('no deadmans-switch receiver');
    delete receiver.webhook_configs;
    receiver.slack_configs = [
      { api_url_file: '/etc/alertmanager/secrets/alertmanager-receivers/deadmans-switch-url' },
    ];
    expect(heartbeatReceiverProblems(broken)).toEqual([
      'deadmans-switch: slack_configs (the Slack notifier counts every reply but "ok" as a failure: slack-notifier-reply-rule)',
      'deadmans-switch: no webhook_configs with url_file (webhook-url-file)',
    ]);
  });

  it('still reaches SRE with an alert that has no known team: paged if critical, ticket otherwise', async () => {
    const page = await routesTo({ alertname: 'SomethingNew', severity: 'critical' }, ['sre-pager']);
    expect(page.stdout.trim()).toBe('sre-pager');
    expect(page.code).toBe(0);
    const ticket = await routesTo({ alertname: 'SomethingNew', severity: 'warning' }, ['sre-team']);
    expect(ticket.stdout.trim()).toBe('sre-team');
    expect(ticket.code).toBe(0);
  });

  it('fails the check when a route does not reach the expected receivers', async () => {
    const result = await routesTo({ alertname: 'AnyAlert', team: 'api', severity: 'critical' }, ['api-team']);
    expect(result.code).not.toBe(0);
  });

  it('pages quickly and repeats pages hourly, tickets twice a day', () => {
    const config = parse(readFileSync(configFile, 'utf8')) as {
      route: {
        repeat_interval: string;
        routes: Array<{ receiver: string; repeat_interval?: string; group_wait?: string }>;
      };
    };
    const pager = config.route.routes.find((r) => r.receiver === 'sre-pager');
    expect(pager).toMatchObject({ group_wait: '10s', repeat_interval: '1h' });
    expect(config.route.repeat_interval).toBe('12h');
  });

  it('reads every receiver endpoint and key from a mounted secret file, never from git', () => {
    const text = readFileSync(configFile, 'utf8');
    const config = parse(text) as { receivers: Array<Record<string, unknown>> };
    const endpointFields = /^(url|api_url|routing_key|service_key|api_key|webhook_url|bot_token)$/;
    const offending: string[] = [];
    const visit = (value: unknown, where: string) => {
      if (Array.isArray(value)) value.forEach((item, i) => visit(item, `${where}[${i}]`));
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (endpointFields.test(key)) offending.push(`${where}.${key}`);
          if (key.endsWith('_file')) {
            expect(inner).toMatch(/^\/etc\/alertmanager\/secrets\/alertmanager-receivers\/[a-z-]+$/);
          }
          visit(inner, `${where}.${key}`);
        }
      }
    };
    visit(config.receivers, 'receivers');
    expect(offending).toEqual([]);
    expect(text).not.toMatch(/https?:\/\/(?!github\.com\/opsforge)/);
  });
});
