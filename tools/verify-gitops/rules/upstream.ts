// The tree held to what was read upstream (upstream.yaml, the ledger): pinned versions that were released, the
// Gateway API plugin's ignore rule, sync waves that wait and CRDs before what uses them, env syncs that never
// wait on a canary, Rollout fields that only work with traffic routing, a portable Argo CD scrape and a
// NetworkPolicy that admits the Gateway's data plane where the implementations run it. Every message names the
// ledger fact it rests on, so a reader can check it at its source.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { minimatch } from 'minimatch';
import { parse as parseYaml } from 'yaml';
import { IMAGE_REPOSITORY } from '../../lib/gitops';
import {
  containersOf,
  type K8sObject,
  ofKind,
  podLabels,
  type RenderedTree,
  selectorMatches,
  serviceSelects,
  where,
  workloads,
} from '../model';
import { ARGOCD_DIRECTORY } from '../render';
import { chartFact, loadLedger, UPSTREAM_LEDGER_FILE, type UpstreamLedger } from '../upstream';
import { argocdTrees, defineRule, envTrees, type RuleContext } from './define-rule';
import { sourcesOf } from './argocd';

const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';
const GATEWAY_API_PLUGIN = 'gateway-api-traffic-router';

const ledgers = new Map<string, UpstreamLedger>();

/** The ledger of the checkout being verified (a scratch copy carries its own). */
function ledgerOf(root: string): UpstreamLedger {
  const path = join(root, UPSTREAM_LEDGER_FILE);
  let ledger = ledgers.get(path);
  if (!ledger) {
    ledger = loadLedger(path);
    ledgers.set(path, ledger);
  }
  return ledger;
}

/** Runs a check with the ledger; a ledger that does not load, or lacks a fact the check needs, is a violation. */
function withLedger(context: RuleContext, check: (ledger: UpstreamLedger) => void): void {
  try {
    check(ledgerOf(context.root));
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'LedgerError') throw error;
    context.flag(UPSTREAM_LEDGER_FILE, error.message);
  }
}

function cite(ledger: UpstreamLedger, id: string): string {
  const { source } = ledger.behaviour(id);
  return `${source.repository}@${source.tag} ${source.path}${source.lines ? `:${source.lines}` : ''}`;
}

function syncWave(object: K8sObject): number {
  return Number.parseInt(object.metadata?.annotations?.[SYNC_WAVE] ?? '0', 10) || 0;
}

function syncOptions(object: K8sObject): string[] {
  return String(object.metadata?.annotations?.[SYNC_OPTIONS] ?? '')
    .split(',')
    .map((option) => option.trim())
    .filter(Boolean);
}

/** An image reference split into repository and tag (the digest, if any, is left out). */
function imageReference(image: string): { repository: string; tag: string } {
  const withoutDigest = image.split('@')[0] as string;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/')
    ? { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) }
    : { repository: withoutDigest, tag: '' };
}

/** Every object nested in `value` (Helm values) that has a string `image`, i.e. a container we spell out. */
function containersInValues(value: unknown): K8sObject[] {
  if (Array.isArray(value)) return value.flatMap(containersInValues);
  if (value === null || typeof value !== 'object') return [];
  const object = value as K8sObject;
  const nested = Object.values(object).flatMap(containersInValues);
  return typeof object.image === 'string' ? [object, ...nested] : nested;
}

function valueAt(values: K8sObject, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as K8sObject | undefined)?.[key], values);
}

function mergeValues(base: K8sObject, override: K8sObject): K8sObject {
  const merged: K8sObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? mergeValues(current, value)
        : value;
  }
  return merged;
}

/** The Helm values an Application's chart source gets: its `$values` files from this repository, then valuesObject. */
function chartValues(root: string, spec: K8sObject, source: K8sObject): K8sObject {
  const reference = sourcesOf(spec).find((s) => s.ref)?.ref;
  let values: K8sObject = {};
  for (const file of source.helm?.valueFiles ?? []) {
    const prefix = `$${reference}/`;
    if (reference && String(file).startsWith(prefix)) {
      values = mergeValues(
        values,
        parseYaml(readFileSync(join(root, String(file).slice(prefix.length)), 'utf8')) ?? {},
      );
    }
  }
  return mergeValues(values, source.helm?.valuesObject ?? {});
}

/** Applications (and ApplicationSet templates) with the env trees each deploys. */
function envDeployers(
  tree: RenderedTree,
  envs: RenderedTree[],
): { owner: K8sObject; spec: K8sObject; envs: RenderedTree[] }[] {
  const deployers: { owner: K8sObject; spec: K8sObject; envs: RenderedTree[] }[] = [];
  for (const set of ofKind(tree, 'ApplicationSet')) {
    // A git generator's directories are env folders; its files (e.g. gitops/envs/*/revision.yaml) lie in them.
    const patterns: string[] = (set.spec?.generators ?? []).flatMap((g: K8sObject) => [
      ...(g.git?.directories ?? []).map((d: K8sObject) => String(d.path)),
      ...(g.git?.files ?? []).map((f: K8sObject) => posix.dirname(String(f.path))),
    ]);
    const deployed = envs.filter((env) => patterns.some((pattern) => minimatch(env.source, pattern)));
    if (deployed.length > 0)
      deployers.push({ owner: set, spec: set.spec?.template?.spec ?? {}, envs: deployed });
  }
  for (const app of ofKind(tree, 'Application')) {
    const paths = sourcesOf(app.spec ?? {}).map((s) => String(s.path ?? '').replace(/\/+$/, ''));
    const deployed = envs.filter((env) => paths.includes(env.source));
    if (deployed.length > 0) deployers.push({ owner: app, spec: app.spec ?? {}, envs: deployed });
  }
  return deployers;
}

function specSyncOptions(spec: K8sObject): string[] {
  return spec.syncPolicy?.syncOptions ?? [];
}

const upstreamPinnedVersions = defineRule({
  name: 'upstream-pinned-versions',
  summary:
    'every chart, plugin and third-party image the tree pins is the version the upstream ledger records, and that chart version was seen released',
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
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
      for (const tree of trees) {
        for (const workload of workloads(tree))
          for (const { container, label } of containersOf(workload))
            checkImage(where(tree, workload, label), String(container.image ?? ''));
      }
      for (const tree of argocdTrees(trees)) {
        for (const app of ofKind(tree, 'Application')) {
          for (const source of sourcesOf(app.spec ?? {})) {
            if (!source.chart) continue;
            const at = where(tree, app);
            const revision = String(source.targetRevision ?? '');
            const fact = chartFact(ledger, String(source.repoURL), String(source.chart));
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
            const values = source.helm?.valuesObject ?? {};
            for (const plugin of (valueAt(values, 'controller.trafficRouterPlugins') as
              K8sObject[] | undefined) ?? []) {
              if (!Object.values(ledger.plugins).some((p) => p.name === plugin.name))
                flag(
                  at,
                  `traffic-router plugin ${plugin.name} is not in the upstream ledger: record it under plugins in ${UPSTREAM_LEDGER_FILE}`,
                );
            }
            for (const container of containersInValues(values))
              checkImage(`${at} values container "${container.name}"`, container.image);
          }
        }
      }
    });
  },
});

const gatewayApiIgnoreRule = defineRule({
  name: 'gatewayapi-ignore-rule',
  summary:
    "an Application deploying a Rollout routed by the Gateway API plugin ignores the HTTPRoute's rules while the plugin labels it in-progress, and respects ignored fields on sync",
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
      const plugin = ledger.plugins[GATEWAY_API_PLUGIN];
      const rule = ledger.behaviour('gatewayapi-plugin-argocd-ignore-rule');
      const { group, kind, jqPathExpression } = rule.data as Record<string, string>;
      const routed = envTrees(trees).filter((env) =>
        ofKind(env, 'Rollout').some(
          (r) => r.spec?.strategy?.canary?.trafficRouting?.plugins?.[plugin?.name ?? ''],
        ),
      );
      for (const env of routed) {
        for (const rollout of ofKind(env, 'Rollout')) {
          const config = rollout.spec?.strategy?.canary?.trafficRouting?.plugins?.[plugin?.name ?? ''];
          if (
            config &&
            (config.disableInProgressLabel === true ||
              config.inProgressLabelKey ||
              config.inProgressLabelValue)
          )
            flag(
              where(env, rollout),
              `changes or disables the plugin's in-progress label, which Argo CD's ignore rule keys on (${cite(ledger, 'gatewayapi-plugin-in-progress-label')}): keep the default label`,
            );
        }
      }
      for (const tree of argocdTrees(trees)) {
        for (const { owner, spec, envs } of envDeployers(tree, routed)) {
          const at = where(tree, owner);
          const ignores: K8sObject[] = spec.ignoreDifferences ?? [];
          const covered = ignores.some(
            (ignore) =>
              ignore.group === group &&
              ignore.kind === kind &&
              (ignore.jqPathExpressions ?? []).includes(jqPathExpression),
          );
          if (!covered)
            flag(
              at,
              `deploys ${envs.map((e) => e.source).join(', ')}, whose Rollouts the Gateway API plugin routes, without ignoreDifferences { group: ${group}, kind: ${kind}, jqPathExpressions: [${jqPathExpression}] }: selfHeal would revert the canary's weights (${cite(ledger, rule.id)})`,
            );
          if (!specSyncOptions(spec).includes('RespectIgnoreDifferences=true'))
            flag(
              at,
              `has no RespectIgnoreDifferences=true: a sync during a canary would apply the weights in git over the plugin's (${cite(ledger, 'argocd-ignore-differences-jq')})`,
            );
        }
      }
    });
  },
});

/** Group/Kind of an object as the ledger writes it, e.g. monitoring.coreos.com/ServiceMonitor. */
function groupKind(object: K8sObject): string {
  const apiVersion = String(object.apiVersion ?? '');
  return `${apiVersion.includes('/') ? apiVersion.split('/')[0] : ''}/${object.kind}`;
}

const argocdWavesWait = defineRule({
  name: 'argocd-waves-wait',
  summary:
    "the root's sync waves wait for health from the first sync (the Application health check in its first wave, the root itself in its last) and every Application syncs after the one installing the CRDs it renders",
  check(context) {
    const { trees, root, flag } = context;
    withLedger(context, (ledger) => {
      const healthCheck = ledger.behaviour('argocd-application-health-not-assessed');
      const { configMap, key } = healthCheck.data as Record<string, string>;
      for (const tree of argocdTrees(trees)) {
        const argoObjects = tree.objects.filter((o) =>
          ['Application', 'ApplicationSet', 'AppProject'].includes(o.kind),
        );
        const firstWave = Math.min(...argoObjects.map(syncWave));
        const lastWave = Math.max(...tree.objects.map(syncWave));
        const config = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === configMap && c.data?.[key]);
        if (!config)
          flag(
            tree.source,
            `renders no ${configMap} with ${key}: Argo CD does not judge child Applications' health, so sync waves of Applications would not wait (${cite(ledger, healthCheck.id)})`,
          );
        else if (syncWave(config) >= firstWave)
          flag(
            where(tree, config),
            `is in wave ${syncWave(config)}, not before the first Application wave (${firstWave}): on the first sync the waves it should govern would pass before it exists`,
          );
        const rootApp = ofKind(tree, 'Application').find((a) => a.spec?.source?.path === ARGOCD_DIRECTORY);
        if (rootApp && syncWave(rootApp) !== lastWave)
          flag(
            where(tree, rootApp),
            `is in wave ${syncWave(rootApp)}, not the last (${lastWave}): a sync waits for the health of every wave but the last, and the root is only Healthy once the later waves are`,
          );

        // Which wave installs each CRD (from the ledger's chart facts), and which wave renders each kind.
        const providers = new Map<string, number>();
        const charts = new Map<string, { app: K8sObject; source: K8sObject }>();
        for (const app of ofKind(tree, 'Application'))
          for (const source of sourcesOf(app.spec ?? {}))
            if (source.chart) charts.set(String(source.chart), { app, source });
        for (const fact of Object.values(ledger.behaviours)) {
          const provides = fact.data?.provides as string[] | undefined;
          const installer = charts.get(String(fact.data?.chart));
          if (provides && installer)
            for (const kind of provides) providers.set(kind, syncWave(installer.app));
        }
        const needs: { at: string; wave: number; kind: string; rootObject?: K8sObject }[] = [];
        for (const fact of Object.values(ledger.behaviours)) {
          const renders = fact.data?.renders as string | undefined;
          const user = charts.get(String(fact.data?.chart));
          if (!renders || !user) continue;
          const values = chartValues(root, user.app.spec ?? {}, user.source);
          if ((fact.data?.whenValues as string[]).every((path) => valueAt(values, path) === true))
            needs.push({ at: where(tree, user.app), wave: syncWave(user.app), kind: renders });
        }
        for (const app of ofKind(tree, 'Application')) {
          const paths = sourcesOf(app.spec ?? {}).map((s) => String(s.path ?? '').replace(/\/+$/, ''));
          for (const source of trees.filter(
            (t) => t.role === 'application-source' && paths.includes(t.source),
          ))
            for (const object of source.objects)
              needs.push({ at: where(tree, app), wave: syncWave(app), kind: groupKind(object) });
        }
        for (const { owner, envs } of envDeployers(tree, envTrees(trees)))
          for (const env of envs)
            for (const object of env.objects)
              needs.push({ at: where(tree, owner), wave: syncWave(owner), kind: groupKind(object) });
        for (const object of tree.objects)
          needs.push({
            at: where(tree, object),
            wave: syncWave(object),
            kind: groupKind(object),
            rootObject: object,
          });

        const reported = new Set<string>();
        for (const need of needs) {
          const providerWave = providers.get(need.kind);
          if (providerWave === undefined || reported.has(`${need.at} ${need.kind}`)) continue;
          if (need.wave <= providerWave) {
            reported.add(`${need.at} ${need.kind}`);
            flag(
              need.at,
              `is in wave ${need.wave} but renders ${need.kind}, whose CRD an Application of wave ${providerWave} installs: put it in a later wave`,
            );
          } else if (
            need.rootObject &&
            !syncOptions(need.rootObject).includes('SkipDryRunOnMissingResource=true')
          ) {
            flag(
              need.at,
              `needs a CRD that a child Application installs, but the root's dry run of its first sync runs before any wave: annotate it ${SYNC_OPTIONS}: SkipDryRunOnMissingResource=true (${cite(ledger, 'gitops-engine-dry-run-before-any-wave')})`,
            );
          }
        }
      }
    });
  },
});

/** Names of the ConfigMaps a workload's pod template reads. */
function configMapsReadBy(workload: K8sObject): string[] {
  const spec = workload.spec?.template?.spec ?? {};
  const containers: K8sObject[] = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  return [
    ...(spec.volumes ?? []).map((v: K8sObject) => v.configMap?.name),
    ...containers.flatMap((c) => (c.envFrom ?? []).map((e: K8sObject) => e.configMapRef?.name)),
    ...containers.flatMap((c) => (c.env ?? []).map((e: K8sObject) => e.valueFrom?.configMapKeyRef?.name)),
  ].filter((name): name is string => typeof name === 'string');
}

/** kustomize's generated names end in a 10-character content hash. */
const GENERATED_NAME = /-[a-z0-9]{10}$/;

const envSyncNeverWaitsOnCanary = defineRule({
  name: 'env-sync-never-waits-on-canary',
  summary:
    "an env's sync operation ends when its manifests are applied: Rollouts in its last sync wave, no PruneLast, and the generated ConfigMaps a workload reads kept rather than pruned",
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
      const kept = ledger.behaviour('argocd-generated-configmaps-kept').data?.annotations as Record<
        string,
        string
      >;
      for (const tree of argocdTrees(trees)) {
        const deployers = envDeployers(tree, envTrees(trees));
        for (const env of envTrees(trees).filter((e) => !deployers.some((d) => d.envs.includes(e))))
          flag(
            env.source,
            `no Application or ApplicationSet generator in ${tree.source} is recognised as deploying it, so its sync policy cannot be checked: deploy it by path or by a git generator's directories or files`,
          );
        for (const { owner, spec } of deployers) {
          if (specSyncOptions(spec).includes('PruneLast=true'))
            flag(
              where(tree, owner),
              `syncs envs with PruneLast=true: prunes then run after the last wave, so the Rollouts' wave is waited on until Healthy, for the whole canary and forever when it pauses, and every later commit is refused (${cite(ledger, 'gitops-engine-prune-last-adds-a-wave')}): remove it`,
            );
        }
      }
      for (const env of envTrees(trees)) {
        const lastWave = Math.max(...env.objects.map(syncWave));
        for (const object of env.objects) {
          if (syncOptions(object).includes('PruneLast=true'))
            flag(
              where(env, object),
              `carries PruneLast=true, which holds the env's sync open until the Rollouts are Healthy: remove it`,
            );
        }
        for (const rollout of ofKind(env, 'Rollout')) {
          if (syncWave(rollout) !== lastWave)
            flag(
              where(env, rollout),
              `is in sync wave ${syncWave(rollout)} while the env's last wave is ${lastWave}: Argo CD waits for a middle wave's health, so a paused canary would hold the sync open (${cite(ledger, 'gitops-engine-waits-for-health-between-waves')})`,
            );
        }
        // Any workload: pods of the previous revision (the stable ReplicaSet, a StatefulSet mid-update) still
        // read the previous generated ConfigMap.
        for (const workload of workloads(env)) {
          for (const name of configMapsReadBy(workload)) {
            const configMap = ofKind(env, 'ConfigMap').find((c) => c.metadata?.name === name);
            if (!configMap || !GENERATED_NAME.test(name)) continue;
            const annotations: Record<string, string> = configMap.metadata?.annotations ?? {};
            const missing = Object.entries(kept).filter(
              ([key, value]) =>
                !String(annotations[key] ?? '')
                  .split(',')
                  .map((o) => o.trim())
                  .includes(value),
            );
            if (missing.length > 0)
              flag(
                where(env, configMap),
                `is generated for ${workload.kind} ${workload.metadata?.name} but lacks ${missing.map(([k, v]) => `${k}: ${v}`).join(', ')}: the next configuration would prune it while pods of the previous revision still read it (${cite(ledger, 'argocd-generated-configmaps-kept')})`,
              );
          }
        }
      }
    });
  },
});

const rolloutScaleDownDelayNeedsTrafficRouting = defineRule({
  name: 'rollout-scale-down-delay-needs-traffic-routing',
  summary:
    'a canary without traffic routing sets neither abortScaleDownDelaySeconds (ignored) nor scaleDownDelaySeconds (rejected)',
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
      for (const tree of trees) {
        for (const rollout of ofKind(tree, 'Rollout')) {
          const canary = rollout.spec?.strategy?.canary;
          if (!canary || canary.trafficRouting) continue;
          if (canary.abortScaleDownDelaySeconds !== undefined)
            flag(
              where(tree, rollout),
              `sets abortScaleDownDelaySeconds without trafficRouting, where Argo Rollouts ignores it: an abort is a rolling update back to stable (${cite(ledger, 'rollouts-abort-scale-down-delay-needs-traffic-routing')}): remove it`,
            );
          if (canary.scaleDownDelaySeconds !== undefined)
            flag(
              where(tree, rollout),
              `sets scaleDownDelaySeconds without trafficRouting, which Argo Rollouts rejects as InvalidSpec (${cite(ledger, 'rollouts-scale-down-delay-invalid-without-traffic-routing')}): remove it`,
            );
        }
      }
    });
  },
});

const argocdMetricsScrapePortable = defineRule({
  name: 'argocd-metrics-scrape-portable',
  summary:
    "Argo CD's metrics are scraped in a way both install.yaml and the argo-cd chart serve: a PodMonitor on the controller pods' labels and metrics port number",
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
      const installs = ['argocd-install-controller-metrics', 'argocd-chart-controller-metrics'].map((id) =>
        ledger.behaviour(id),
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
              `scrapes Argo CD through a Service, but install.yaml and the argo-cd chart name its port differently and the chart renders none by default (${installs.map((f) => cite(ledger, f.id)).join('; ')}): use a PodMonitor on port ${String(installs[0]?.data?.port)}`,
            );
            continue;
          }
          for (const install of installs) {
            const labels = install.data?.podLabels as Record<string, string>;
            if (!selectorMatches(monitor.spec?.selector, labels))
              flag(
                at,
                `does not select the controller pods of ${install.source.path} (labels ${JSON.stringify(labels)})`,
              );
            if (
              !(monitor.spec?.podMetricsEndpoints ?? []).some(
                (e: K8sObject) => e.portNumber === install.data?.port,
              )
            )
              flag(
                at,
                `does not scrape port number ${String(install.data?.port)}, the controller's metrics port in ${install.source.path} (a port name differs between installations)`,
              );
          }
        }
      }
    });
  },
});

/** Whether a NetworkPolicy ingress peer admits a pod with these labels in a namespace with these labels. */
function peerAdmits(
  peer: K8sObject,
  policyNamespace: string,
  namespaceLabels: Record<string, string>,
  labels: Record<string, string>,
): boolean {
  if (peer.ipBlock) return false;
  const namespaceMatches = peer.namespaceSelector
    ? selectorMatches(peer.namespaceSelector, namespaceLabels)
    : namespaceLabels['kubernetes.io/metadata.name'] === policyNamespace;
  return namespaceMatches && (!peer.podSelector || selectorMatches(peer.podSelector, labels));
}

const gatewayDataPlaneAdmitted = defineRule({
  name: 'gateway-data-plane-admitted',
  summary:
    "the NetworkPolicies of an HTTPRoute's backends admit its Gateway's data plane both in the Gateway's namespace and where Envoy Gateway runs it by default",
  check(context) {
    const { trees, flag } = context;
    withLedger(context, (ledger) => {
      const envoyNamespace = String(
        ledger.behaviour('envoy-gateway-proxies-in-controller-namespace').data?.namespace,
      );
      const owner = ledger.behaviour('envoy-gateway-proxy-owner-labels').data as Record<string, string>;
      for (const env of envTrees(trees)) {
        for (const route of ofKind(env, 'HTTPRoute')) {
          for (const parent of route.spec?.parentRefs ?? []) {
            const gatewayNamespace = String(parent.namespace ?? route.metadata?.namespace);
            const dataPlanes = [
              {
                where: `namespace ${gatewayNamespace} (the Gateway's)`,
                namespace: gatewayNamespace,
                labels: {},
              },
              {
                where: `Envoy Gateway's proxies in ${envoyNamespace} (${cite(ledger, 'envoy-gateway-proxies-in-controller-namespace')})`,
                namespace: envoyNamespace,
                labels: {
                  [owner.namespaceLabel as string]: gatewayNamespace,
                  [owner.nameLabel as string]: String(parent.name),
                },
              },
            ];
            const backends = new Set<string>(
              (route.spec?.rules ?? []).flatMap((r: K8sObject) =>
                (r.backendRefs ?? []).map((b: K8sObject) => b.name),
              ),
            );
            for (const service of ofKind(env, 'Service').filter((s) => backends.has(s.metadata?.name))) {
              for (const workload of workloads(env).filter((w) => serviceSelects(service, podLabels(w)))) {
                const policies = ofKind(env, 'NetworkPolicy').filter(
                  (p) =>
                    selectorMatches(p.spec?.podSelector, podLabels(workload)) &&
                    (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
                );
                if (policies.length === 0) continue;
                for (const plane of dataPlanes) {
                  const admitted = policies.some((policy) =>
                    (policy.spec?.ingress ?? []).some((rule: K8sObject) =>
                      (rule.from ?? [{}]).some((peer: K8sObject) =>
                        peerAdmits(
                          peer,
                          String(policy.metadata?.namespace),
                          { 'kubernetes.io/metadata.name': plane.namespace },
                          plane.labels,
                        ),
                      ),
                    ),
                  );
                  if (!admitted)
                    flag(
                      where(env, workload),
                      `serves HTTPRoute ${route.metadata?.name} (Gateway ${gatewayNamespace}/${parent.name}) but no NetworkPolicy admits its data plane in ${plane.where}`,
                    );
                }
              }
            }
          }
        }
      }
    });
  },
});

export const upstreamRules = [
  upstreamPinnedVersions,
  gatewayApiIgnoreRule,
  argocdWavesWait,
  envSyncNeverWaitsOnCanary,
  rolloutScaleDownDelayNeedsTrafficRouting,
  argocdMetricsScrapePortable,
  gatewayDataPlaneAdmitted,
];
