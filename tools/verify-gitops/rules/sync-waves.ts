// Argo CD's sync waves held to what was read upstream (upstream.yaml): the root's waves wait for health and
// every Application syncs after the one installing the CRDs it renders; an env's sync never waits on a canary.
// Every message names the ledger fact it rests on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import type { IApplicationSource } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSource';
import type { IApplicationSpec } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSpec';
import {
  isMapping,
  type KubernetesObject,
  ofKind,
  podSpec,
  type Workload,
  workloads,
} from '../../lib/kubernetes';
import { where } from '../model';
import { ARGOCD_DIRECTORY } from '../render';
import { argocdTrees, envTrees } from './define-rule';
import { sourcesOf } from './argocd';
import {
  cite,
  envDeployers,
  sourcePaths,
  specSyncOptions,
  SYNC_OPTIONS,
  syncOptions,
  syncWave,
  valueAt,
  defineLedgerRule,
} from './ledger';

type HelmValues = Record<string, unknown>;

/** Helm's merge of values: mappings merge key by key, anything else in `override` replaces. */
function mergeValues(base: HelmValues, override: unknown): HelmValues {
  if (!isMapping(override)) return base;
  const merged: HelmValues = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isMapping(value) && isMapping(current) ? mergeValues(current, value) : value;
  }
  return merged;
}

/** The Helm values an Application's chart source gets: its `$values` files from this repository, then valuesObject. */
function chartValues(root: string, spec: IApplicationSpec, source: IApplicationSource): HelmValues {
  const reference = sourcesOf(spec).find((s) => s.ref)?.ref;
  let values: HelmValues = {};
  for (const file of source.helm?.valueFiles ?? []) {
    const prefix = `$${reference}/`;
    if (reference && file.startsWith(prefix)) {
      values = mergeValues(values, parseYaml(readFileSync(join(root, file.slice(prefix.length)), 'utf8')));
    }
  }
  return mergeValues(values, source.helm?.valuesObject);
}

/** Group/Kind of an object as the ledger writes it, e.g. monitoring.coreos.com/ServiceMonitor. */
function groupKind(object: KubernetesObject): string {
  const apiVersion = object.apiVersion;
  return `${apiVersion.includes('/') ? apiVersion.split('/')[0] : ''}/${object.kind}`;
}

const argocdWavesWait = defineLedgerRule({
  name: 'argocd-waves-wait',
  summary:
    "the root's sync waves wait for health from the first sync (the Application health check in its first wave, the root itself in its last) and every Application syncs after the one installing the CRDs it renders",
  check({ trees, root, flag, ledger }) {
    const healthCheck = ledger.behaviour('argocd-application-health-not-assessed');
    const { configMap, key } = healthCheck.data as Record<string, string>;
    for (const tree of argocdTrees(trees)) {
      const argoObjects = ofKind(tree, 'Application', 'ApplicationSet', 'AppProject');
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
      const rootApp = ofKind(tree, 'Application').find((a) => a.spec.source?.path === ARGOCD_DIRECTORY);
      if (rootApp && syncWave(rootApp) !== lastWave)
        flag(
          where(tree, rootApp),
          `is in wave ${syncWave(rootApp)}, not the last (${lastWave}): a sync waits for the health of every wave but the last, and the root is only Healthy once the later waves are`,
        );

      // Which wave installs each CRD (from the ledger's chart facts), and which wave renders each kind.
      const providers = new Map<string, number>();
      const charts = new Map<string, { app: IApplication; source: IApplicationSource }>();
      for (const app of ofKind(tree, 'Application'))
        for (const source of sourcesOf(app.spec)) if (source.chart) charts.set(source.chart, { app, source });
      for (const fact of Object.values(ledger.behaviours)) {
        const provides = fact.data?.provides as string[] | undefined;
        const installer = charts.get(String(fact.data?.chart));
        if (provides && installer) for (const kind of provides) providers.set(kind, syncWave(installer.app));
      }
      const needs: { at: string; wave: number; kind: string; rootObject?: KubernetesObject }[] = [];
      for (const fact of Object.values(ledger.behaviours)) {
        const renders = fact.data?.renders as string | undefined;
        const user = charts.get(String(fact.data?.chart));
        if (!renders || !user) continue;
        const values = chartValues(root, user.app.spec, user.source);
        if ((fact.data?.whenValues as string[]).every((path) => valueAt(values, path) === true))
          needs.push({ at: where(tree, user.app), wave: syncWave(user.app), kind: renders });
      }
      for (const app of ofKind(tree, 'Application')) {
        const paths = sourcePaths(app.spec);
        for (const source of trees.filter((t) => t.role === 'application-source' && paths.includes(t.source)))
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
  },
});

/** Names of the ConfigMaps a workload's pod template reads. */
function configMapsReadBy(workload: Workload): string[] {
  const spec = podSpec(workload);
  const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  return [
    ...(spec.volumes ?? []).map((v) => v.configMap?.name),
    ...containers.flatMap((c) => (c.envFrom ?? []).map((e) => e.configMapRef?.name)),
    ...containers.flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.configMapKeyRef?.name)),
  ].filter((name): name is string => typeof name === 'string');
}

/** kustomize's generated names end in a 10-character content hash. */
const GENERATED_NAME = /-[a-z0-9]{10}$/;

const envSyncNeverWaitsOnCanary = defineLedgerRule({
  name: 'env-sync-never-waits-on-canary',
  summary:
    "an env's sync operation ends when its manifests are applied: Rollouts in its last sync wave, no PruneLast, and the generated ConfigMaps a workload reads kept rather than pruned",
  check({ trees, flag, ledger }) {
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
          const annotations = configMap.metadata?.annotations ?? {};
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
  },
});

export const syncWavesRules = [argocdWavesWait, envSyncNeverWaitsOnCanary];
