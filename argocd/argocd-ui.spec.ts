// The Argo CD UI as the team's cockpit, checked with the engines Argo CD and Argo Rollouts use (Go text/template
// with sprig, expr; argocd/test/argo-templates) against the objects kustomize renders from this repository:
// every deep link leads somewhere real, every notification template executes and carries what the team needs,
// and Alertmanager routes each notification to the owning team. The extension's install patch is rendered by
// real kustomize. What needs a cluster (the extension in a browser, a notification sent) runs in the e2e.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { run } from '../observability/test/support/repo';
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import { type KubernetesObject, type ObjectOfKind, ofKind } from '../tools/lib/kubernetes';
import { kustomizeObjects } from '../tools/lib/kustomize';
import type { RenderedTree } from '../tools/verify-gitops/model';
import { mappingAt, present } from '../tools/verify-gitops/rules/broken-trees';
import { renderAll } from '../tools/verify-gitops/render';
import { TEAM_LABEL } from '../tools/verify-gitops/rules/argocd-ui';
import { loadLedger } from '../tools/verify-gitops/upstream';
import { evaluate, evaluateExpr, renderTemplate, type Vars } from './test/support/argo-templates';

const root = join(__dirname, '..');
const ledger = loadLedger();
const CANARY_HASH = '6d4f8b9c7';
const STABLE_HASH = '5c8e7a6b4';

let trees: RenderedTree[];
let argocd: KubernetesObject[];

function find<K extends string>(objects: KubernetesObject[], kind: K, name: string): ObjectOfKind<K> {
  return present(
    ofKind({ objects }, kind).find((o) => o.metadata?.name === name),
    `${kind}/${name} in argocd/`,
  );
}

/** A ConfigMap's data, which the ConfigMaps these tests read all have. */
function configData(name: string): Record<string, string> {
  return present(find(argocd, 'ConfigMap', name).data, `data in ConfigMap/${name}`);
}

/** An Alertmanager webhook of a notification template, as Argo CD and Argo Rollouts read it (YAML). */
const ALERTMANAGER_WEBHOOK = z.object({
  webhook: z.object({ alertmanager: z.object({ method: z.string(), path: z.string(), body: z.string() }) }),
});

/** An alert as a template posts it to Alertmanager (JSON). */
const POSTED_ALERTS = z.array(
  z.object({ labels: z.record(z.string(), z.string()), annotations: z.record(z.string(), z.string()) }),
);

/** Go-templates every string of the ApplicationSet template, as its git directory generator would for `path`. */
function generateApplication(path: string): Record<string, unknown> {
  const template = find(argocd, 'ApplicationSet', 'opsforge-envs').spec.template;
  const basename = path.split('/').at(-1) as string;
  const params = { path: { path, basename, basenameNormalized: basename, segments: path.split('/') } };
  const strings: { holder: object; key: string; text: string }[] = [];
  const collect = (node: object) => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === 'string' && value.includes('{{')) strings.push({ holder: node, key, text: value });
      else if (value && typeof value === 'object') collect(value);
    }
  };
  const application: Record<string, unknown> = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    ...structuredClone(template),
  };
  collect(application);
  const results = evaluate(strings.map(({ text }) => ({ template: text, vars: params })));
  strings.forEach(({ holder, key }, i) => {
    if (results[i].error) throw new Error(`ApplicationSet template ${key}: ${results[i].error}`);
    Reflect.set(holder, key, results[i].output);
  });
  return application;
}

/** argocd-cm's deep links of a location (YAML). */
const DEEP_LINKS = z.array(z.object({ title: z.string(), url: z.string(), if: z.string().optional() }));

function links(location: 'application' | 'resource') {
  return DEEP_LINKS.parse(parseYaml(configData('argocd-cm')[`${location}.links`]));
}

/** The links Argo CD shows for these variables: `if` evaluated by expr, `url` by text/template with sprig. */
function shownLinks(location: 'application' | 'resource', vars: Vars): Record<string, URL> {
  const shown: Record<string, URL> = {};
  for (const link of links(location)) {
    if (link.if !== undefined && evaluateExpr(link.if, vars) !== true) continue;
    shown[link.title] = new URL(renderTemplate(link.url, vars));
  }
  return shown;
}

function envRollouts(): { env: string; application: Record<string, unknown>; rollout: IRollout }[] {
  return trees
    .filter((tree) => tree.role === 'env')
    .flatMap((tree) =>
      ofKind(tree, 'Rollout').map((rollout) => ({
        env: tree.env as string,
        application: generateApplication(tree.source),
        rollout: {
          ...rollout,
          status: { currentPodHash: CANARY_HASH, stableRS: STABLE_HASH, phase: 'Paused' },
        },
      })),
    );
}

const links_config = () =>
  z
    .object({ data: z.record(z.string(), z.string()) })
    .parse(parseYaml(readFileSync(join(root, 'argocd/config/observability-links.yaml'), 'utf8')));

beforeAll(() => {
  trees = renderAll(root);
  argocd = (trees.find((t) => t.role === 'argocd') as RenderedTree).objects;
});

describe('deep links in the Argo CD UI', () => {
  it("lead from each env Application to the RED, SLO and canary dashboards of its namespace, on the adopter's Grafana", () => {
    const grafana = links_config().data['grafana-url'];
    for (const tree of trees.filter((t) => t.role === 'env')) {
      const app = generateApplication(tree.source);
      const shown = shownLinks('application', { app, application: app, cluster: {} });
      expect(Object.keys(shown).sort()).toEqual([
        'Canary dashboard',
        'SLOs and error budget',
        'Service RED dashboard',
      ]);
      for (const [title, url] of Object.entries(shown)) {
        expect(`${title}: ${url.origin}`).toBe(`${title}: ${new URL(grafana).origin}`);
        expect(url.searchParams.get('var-namespace')).toBe(tree.env);
      }
      expect(shown['Service RED dashboard'].pathname).toBe('/d/opsforge-red/');
      expect(shown['SLOs and error budget'].pathname).toBe('/d/opsforge-slo/');
      expect(shown['Canary dashboard'].pathname).toBe('/d/opsforge-canary/');
    }
  });

  it("are hidden on the platform's Applications, which carry no dashboard of their own", () => {
    const platform = find(argocd, 'Application', 'argo-rollouts');
    expect(shownLinks('application', { app: platform, application: platform, cluster: {} })).toEqual({});
  });

  it('lead from a Rollout to the canary dashboard for its canary and stable hashes and to its pods in Loki', () => {
    for (const { env, application, rollout } of envRollouts()) {
      const shown = shownLinks('resource', { resource: rollout, application, cluster: {}, project: {} });
      expect(Object.keys(shown).sort()).toEqual([
        'Canary dashboard for this release',
        "Logs of this release's pods",
      ]);
      const canary = shown['Canary dashboard for this release'];
      expect(canary.pathname).toBe('/d/opsforge-canary/');
      expect(canary.searchParams.get('var-namespace')).toBe(env);
      expect(canary.searchParams.get('var-service')).toBe(rollout.metadata?.name);
      expect(canary.searchParams.getAll('var-hash')).toEqual([CANARY_HASH, STABLE_HASH]);

      const logs = shown["Logs of this release's pods"];
      expect(logs.pathname).toBe('/explore');
      const panes = JSON.parse(logs.searchParams.get('panes') as string);
      const [query] = panes.logs.queries;
      // The Loki datasource uid and the stream labels Alloy attaches (observability/loki).
      expect(panes.logs.datasource).toBe('loki');
      expect(query.datasource).toEqual({ type: 'loki', uid: 'loki' });
      expect(query.expr).toBe(
        `{namespace="${env}", app="${rollout.metadata?.name}", pod=~"${rollout.metadata?.name}-${CANARY_HASH}-.+"}`,
      );
    }
  });

  it('lead from an AnalysisRun, and only from it, to the runbook of a failed canary', () => {
    const [{ application }] = envRollouts();
    const analysisRun = { kind: 'AnalysisRun', metadata: { name: 'api-6d4f8b9c7-3-2', namespace: 'dev' } };
    const shown = shownLinks('resource', { resource: analysisRun, application, cluster: {}, project: {} });
    expect(Object.keys(shown)).toEqual(['Runbook: a canary failed its analysis']);
    const runbook = shown['Runbook: a canary failed its analysis'].href;
    expect(runbook).toBe(`${links_config().data['runbooks-url']}/bad-deployment.md`);
    const pod = { kind: 'Pod', metadata: { name: 'api-6d4f8b9c7-x2x9z', namespace: 'dev' } };
    expect(shownLinks('resource', { resource: pod, application, cluster: {}, project: {} })).toEqual({});
  });
});

/** A part (templates, triggers, notifiers) of the argo-rollouts chart values' notifications. */
function rolloutNotifications(part: string): Record<string, unknown> {
  const values = find(argocd, 'Application', 'argo-rollouts').spec.source?.helm?.valuesObject;
  return mappingAt(values, `notifications.${part}`);
}

/** The webhook body a Rollouts template posts to Alertmanager, executed and parsed as the alerts it carries. */
function postedAlerts(template: string, vars: Vars) {
  const text = String(rolloutNotifications('templates')[`template.${template}`]);
  const webhook = ALERTMANAGER_WEBHOOK.parse(parseYaml(text)).webhook.alertmanager;
  expect(webhook).toMatchObject({ method: 'POST', path: '/api/v2/alerts' });
  return POSTED_ALERTS.parse(JSON.parse(renderTemplate(webhook.body, vars)));
}

function triggerFires(trigger: string, vars: Vars): boolean {
  const text = String(rolloutNotifications('triggers')[`trigger.${trigger}`]);
  const [condition] = z.array(z.object({ when: z.string().optional() })).parse(parseYaml(text));
  return condition.when === undefined || evaluateExpr(condition.when, vars) === true;
}

/** An AnalysisRun of the canary as the controller reports it: `verdicts` maps metric names to their phase. */
function analysisRun(rollout: IRollout, verdicts: Record<string, string>, runPhase: string) {
  return {
    metadata: {
      name: `${rollout.metadata?.name}-${CANARY_HASH}-2-1`,
      namespace: rollout.metadata?.namespace,
    },
    status: {
      phase: runPhase,
      metricResults: Object.entries(verdicts).map(([name, phase]) => ({
        name,
        phase,
        count: 3,
        ...(phase === 'Failed' ? { failed: 2 } : {}),
        measurements: [
          { phase: 'Successful', value: '[0.004]' },
          { phase, value: phase === 'Inconclusive' ? '[NaN]' : '[0.31]' },
        ],
      })),
    },
  };
}

/** The receivers real amtool says Alertmanager routes these labels to. */
async function receiversFor(labels: Record<string, string>): Promise<string> {
  const args = Object.entries(labels).map(([name, value]) => `${name}=${value}`);
  const result = await run('amtool', [
    'config',
    'routes',
    'test',
    '--config.file=observability/alertmanager/alertmanager.yaml',
    ...args,
  ]);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}

describe('Argo Rollouts notifications', () => {
  it('subscribe every opsforge Rollout to the abort, pause and completion triggers through Alertmanager', () => {
    const { subscriptions } = mappingAt(
      find(argocd, 'Application', 'argo-rollouts').spec.source?.helm?.valuesObject,
      'notifications',
    );
    const notifiers = rolloutNotifications('notifiers');
    expect(subscriptions).toEqual([
      {
        recipients: ['alertmanager'],
        triggers: ['on-rollout-aborted', 'on-rollout-paused', 'on-rollout-completed'],
        selector: 'app.kubernetes.io/part-of=opsforge',
      },
    ]);
    expect(
      z.object({ url: z.string() }).parse(parseYaml(String(notifiers['service.webhook.alertmanager']))).url,
    ).toBe('http://kube-prometheus-stack-alertmanager.monitoring.svc:9093');
    for (const { rollout } of envRollouts())
      expect(rollout.metadata?.labels?.['app.kubernetes.io/part-of']).toBe('opsforge');
  });

  it("an abort tells the owning team which metric failed and its last value, and reaches that team's receiver", async () => {
    for (const { env, rollout } of envRollouts().filter((r) => r.env === 'prod')) {
      const verdicts = { 'error-rate': 'Failed', 'latency-p99': 'Successful' };
      const vars = { rollout, analysisRuns: [analysisRun(rollout, verdicts, 'Failed')] };
      expect(triggerFires('on-rollout-aborted', vars)).toBe(true);
      const [alert] = postedAlerts('rollout-aborted', vars);
      const team = rollout.metadata?.labels?.[TEAM_LABEL];
      expect(alert.labels).toEqual({
        alertname: 'ArgoRolloutAborted',
        severity: 'warning',
        team,
        namespace: env,
        rollout: rollout.metadata?.name,
      });
      expect(alert.annotations.summary).toBe(
        `${rollout.metadata?.name} in ${env} aborted its canary: traffic is back on the stable version`,
      );
      expect(alert.annotations.description).toBe(
        `error-rate Failed (last value [0.31], 2 failed, 0 errors, AnalysisRun ${rollout.metadata?.name}-${CANARY_HASH}-2-1).`,
      );
      expect(await receiversFor(alert.labels)).toBe(`${team}-team`);
    }
  });

  it('an abort with no failed metric (a progress deadline, a manual abort) still says where to look', () => {
    const [{ rollout }] = envRollouts();
    const [alert] = postedAlerts('rollout-aborted', { rollout, analysisRuns: [] });
    expect(alert.annotations.description).toMatch(/^No analysis metric failed: a progress deadline/);
  });

  it('a pause is announced only when an Inconclusive analysis waits for a human, not at a timed pause step', () => {
    const [{ rollout }] = envRollouts();
    const inconclusive = analysisRun(rollout, { 'error-rate': 'Inconclusive' }, 'Inconclusive');
    const running = analysisRun(rollout, { 'error-rate': 'Running' }, 'Running');
    const justCreated = { metadata: { name: 'new' } };
    expect(triggerFires('on-rollout-paused', { rollout, analysisRuns: [inconclusive] })).toBe(true);
    expect(triggerFires('on-rollout-paused', { rollout, analysisRuns: [running, justCreated] })).toBe(false);
    expect(triggerFires('on-rollout-paused', { rollout, analysisRuns: [] })).toBe(false);

    const [alert] = postedAlerts('rollout-paused-inconclusive', { rollout, analysisRuns: [inconclusive] });
    expect(alert.labels.alertname).toBe('ArgoRolloutPausedInconclusive');
    expect(alert.labels.team).toBe(rollout.metadata?.labels?.[TEAM_LABEL]);
    expect(alert.annotations.description).toBe(
      `error-rate Inconclusive (last value [NaN], AnalysisRun ${inconclusive.metadata.name}).`,
    );
  });

  it("a release completed in prod reaches its team's channel as a notice with the image, and nothing in dev", async () => {
    for (const { env, rollout } of envRollouts().filter((r) => r.env === 'prod' || r.env === 'dev')) {
      const vars = { rollout, analysisRuns: [] };
      expect(triggerFires('on-rollout-completed', vars)).toBe(env === 'prod');
      if (env !== 'prod') continue;
      const [alert] = postedAlerts('rollout-completed-prod', vars);
      expect(alert.labels).toMatchObject({ alertname: 'ArgoRolloutPromotedToProd', severity: 'info' });
      const image = present(rollout.spec.template?.spec?.containers[0].image, 'Rollout image');
      expect(alert.annotations.summary).toContain(image);
      expect(await receiversFor(alert.labels)).toBe(`${rollout.metadata?.labels?.[TEAM_LABEL]}-team`);
    }
  });
});

describe("Argo CD's own notification templates", () => {
  it('execute against an env Application whose sync failed, posting valid alerts with the failure message', () => {
    const data = configData('argocd-notifications-cm');
    const app = generateApplication('gitops/envs/staging');
    app.status = {
      sync: { revision: 'a'.repeat(40), status: 'OutOfSync' },
      health: { status: 'Degraded', message: 'Rollout "api" aborted: "quoted" reason' },
      operationState: { phase: 'Failed', message: 'one or more objects failed to apply: "x"' },
    };
    for (const key of Object.keys(data).filter((k) => k.startsWith('template.'))) {
      const { body } = ALERTMANAGER_WEBHOOK.parse(parseYaml(data[key])).webhook.alertmanager;
      const [alert] = POSTED_ALERTS.parse(JSON.parse(renderTemplate(body, { app, context: {} })));
      expect(alert.labels.application).toBe('opsforge-staging');
      expect(alert.labels.namespace).toBe('staging');
      expect(alert.annotations.description).toMatch(/"(x|quoted)"/);
    }
  });
});

describe('the Argo Rollouts UI extension in the Argo CD installation (argocd/install)', () => {
  const installDirectory = join(root, 'argocd/install');

  it('installs Argo CD at the version the ledger records, from its release tag', () => {
    const kustomization = z
      .object({ resources: z.array(z.string()) })
      .parse(parseYaml(readFileSync(join(installDirectory, 'kustomization.yaml'), 'utf8')));
    expect(kustomization.resources).toEqual([
      `https://raw.githubusercontent.com/argoproj/argo-cd/${ledger.tools['argo-cd'].version}/manifests/install.yaml`,
    ]);
  });

  it('patches argocd-server with the pinned installer and extension release, hardened, sharing /tmp/extensions', () => {
    // Real kustomize applies the real patch to an argocd-server shaped like install.yaml's (container name, /tmp).
    const scratch = mkdtempSync(join(tmpdir(), 'opsforge-argocd-install-'));
    try {
      writeFileSync(
        join(scratch, 'argocd-server.yaml'),
        [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: { name: argocd-server }',
          'spec:',
          '  selector: { matchLabels: { app.kubernetes.io/name: argocd-server } }',
          '  template:',
          '    metadata: { labels: { app.kubernetes.io/name: argocd-server } }',
          '    spec:',
          '      containers:',
          '        - name: argocd-server',
          `          image: quay.io/argoproj/argocd:${ledger.tools['argo-cd'].version}`,
          '          volumeMounts: [{ name: tmp, mountPath: /tmp }]',
          '      volumes: [{ name: tmp, emptyDir: {} }]',
        ].join('\n'),
      );
      writeFileSync(
        join(scratch, 'rollout-extension.yaml'),
        readFileSync(join(installDirectory, 'rollout-extension.yaml')),
      );
      writeFileSync(
        join(scratch, 'kustomization.yaml'),
        'resources: [argocd-server.yaml]\npatches: [{ path: rollout-extension.yaml }]\n',
      );
      const [deployment] = ofKind({ objects: kustomizeObjects(scratch) }, 'Deployment');
      const spec = present(deployment?.spec?.template.spec, 'argocd-server pod spec');
      const installer = present(spec.initContainers?.[0], 'extension installer');
      const image = ledger.images['argocd-extension-installer'];
      const extension = ledger.tools['rollout-extension'];
      expect(installer.image).toBe(`${image.image}:${image.tag}`);
      expect(installer.image).toMatch(/@sha256:[0-9a-f]{64}$/);
      const env = Object.fromEntries((installer.env ?? []).map((e) => [e.name, e.value]));
      expect(env).toEqual({
        EXTENSION_NAME: 'rollout-extension',
        EXTENSION_VERSION: extension.version,
        EXTENSION_URL: `https://github.com/argoproj-labs/rollout-extension/releases/download/${extension.version}/extension.tar`,
      });
      expect(installer.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(installer.resources?.limits?.memory).toBeDefined();
      const server = present(
        spec.containers.find((c) => c.name === 'argocd-server'),
        'argocd-server container',
      );
      expect(server.image).toBe(`quay.io/argoproj/argocd:${ledger.tools['argo-cd'].version}`);
      expect(server.volumeMounts).toEqual(
        expect.arrayContaining([
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'extensions', mountPath: '/tmp/extensions/' },
        ]),
      );
      expect(installer.volumeMounts).toEqual(
        expect.arrayContaining([{ name: 'extensions', mountPath: '/tmp/extensions/' }]),
      );
      expect((spec.volumes ?? []).map((v) => v.name).sort()).toEqual([
        'extensions',
        'rollout-extension-download',
        'tmp',
      ]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it("needs no health checks of its own: the pinned Argo CD ships Rollout, AnalysisRun and Experiment's", () => {
    const builtIn = ledger.behaviour('argocd-builtin-rollouts-health').data?.kinds as string[];
    const argocdCm = configData('argocd-cm');
    for (const kind of builtIn)
      expect(argocdCm[`resource.customizations.health.argoproj.io_${kind}`]).toBeUndefined();
  });
});
