// What the upstream-fact rule families share: the ledger (upstream.yaml) of the checkout being verified, a
// citation of one of its facts, Argo CD's sync-wave and sync-option annotations, and which Applications deploy
// which env.
import { posix, join } from 'node:path';
import { minimatch } from 'minimatch';
import type { IApplicationSpec } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSpec';
import { z } from 'zod';
import { isMapping, type ObjectIdentity, ofKind } from '../../lib/kubernetes';
import type { RenderedTree, Rule } from '../model';
import { LedgerError, loadLedger, UPSTREAM_LEDGER_FILE, type UpstreamLedger } from '../upstream';
import { defineRule, type RuleContext } from './define-rule';
import { type ApplicationOwner, gitGenerators, sourcesOf } from './argocd';

export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
export const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';

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

export interface LedgerRuleContext extends RuleContext {
  /** The ledger of the checkout being verified. */
  ledger: UpstreamLedger;
}

/**
 * A rule whose check reads the ledger: a ledger that does not load, or lacks a fact the check needs (or one of
 * the facts it `restsOn`), is a violation of the rule (at upstream.yaml) rather than a crash.
 */
export function defineLedgerRule(definition: {
  name: string;
  summary: string;
  /** Ledger facts the rule's reasoning rests on without reading their data: fact id → what it establishes. */
  restsOn?: Record<string, string>;
  check(context: LedgerRuleContext): void;
}): Rule {
  return defineRule({
    name: definition.name,
    summary: definition.summary,
    check(context) {
      try {
        const ledger = ledgerOf(context.root);
        for (const id of Object.keys(definition.restsOn ?? {})) ledger.behaviour(id);
        definition.check({ ...context, ledger });
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'LedgerError') throw error;
        context.flag(UPSTREAM_LEDGER_FILE, error.message);
      }
    },
  });
}

export function cite(ledger: UpstreamLedger, id: string): string {
  const { source } = ledger.behaviour(id);
  return `${source.repository}@${source.tag} ${source.path}${source.lines ? `:${source.lines}` : ''}`;
}

export function syncWave(object: ObjectIdentity): number {
  return Number.parseInt(object.metadata?.annotations?.[SYNC_WAVE] ?? '0', 10) || 0;
}

export function syncOptions(object: ObjectIdentity): string[] {
  return String(object.metadata?.annotations?.[SYNC_OPTIONS] ?? '')
    .split(',')
    .map((option) => option.trim())
    .filter(Boolean);
}

/** The value at a dotted path (`controller.metrics.enabled`) of free-form data such as Helm values. */
export function valueAt(values: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (isMapping(node) ? node[key] : undefined), values);
}

/** Applications (and ApplicationSet templates) with the env trees each deploys. */
export function envDeployers(
  tree: RenderedTree,
  envs: RenderedTree[],
): (ApplicationOwner & { envs: RenderedTree[] })[] {
  const deployers: (ApplicationOwner & { envs: RenderedTree[] })[] = [];
  for (const set of ofKind(tree, 'ApplicationSet')) {
    // A git generator's directories are env folders; its files (e.g. gitops/envs/*/revision.yaml) lie in them.
    const patterns = gitGenerators(set).flatMap((git) => [
      ...(git.directories ?? []).map((d) => d.path),
      ...(git.files ?? []).map((f) => posix.dirname(f.path)),
    ]);
    const deployed = envs.filter((env) => patterns.some((pattern) => minimatch(env.source, pattern)));
    if (deployed.length > 0) deployers.push({ owner: set, spec: set.spec.template.spec, envs: deployed });
  }
  for (const app of ofKind(tree, 'Application')) {
    const deployed = envs.filter((env) => sourcePaths(app.spec).includes(env.source));
    if (deployed.length > 0) deployers.push({ owner: app, spec: app.spec, envs: deployed });
  }
  return deployers;
}

/** The repository paths an Application spec's sources read, without a trailing slash ('' for a chart). */
export function sourcePaths(spec: IApplicationSpec): string[] {
  return sourcesOf(spec).map((s) => (s.path ?? '').replace(/\/+$/, ''));
}

export function specSyncOptions(spec: IApplicationSpec): string[] {
  return spec.syncPolicy?.syncOptions ?? [];
}

/** The `data` of the behaviour facts rules read, by fact id, in the shape they read it. */
const BEHAVIOUR_DATA = {
  'argo-rollouts-chart-job-rbac': z.object({ verbs: z.array(z.string()) }),
  'argocd-deep-links': z.object({ locations: z.array(z.string()) }),
  'rollouts-trigger-from-event-reason': z.object({ triggers: z.array(z.string()) }),
  'argocd-chart-controller-metrics': z.object({
    podLabels: z.record(z.string(), z.string()),
    port: z.number(),
  }),
  'argocd-install-controller-metrics': z.object({
    podLabels: z.record(z.string(), z.string()),
    port: z.number(),
  }),
  'blackbox-exporter-chart-service-name': z.object({ chart: z.string(), port: z.number() }),
  'blackbox-exporter-hostname-parameter': z.object({ parameter: z.string() }),
  'envoy-gateway-proxies-in-controller-namespace': z.object({ namespace: z.string() }),
  'envoy-gateway-proxy-owner-labels': z.object({ namespaceLabel: z.string(), nameLabel: z.string() }),
  'gatewayapi-plugin-argocd-ignore-rule': z.object({
    group: z.string(),
    kind: z.string(),
    jqPathExpression: z.string(),
  }),
  'kube-prometheus-stack-probe-selector': z.object({
    chart: z.string(),
    nilUsesHelmValuesDefault: z.boolean(),
  }),
  'redis-operator-additional-config-key': z.object({ key: z.string().default('redis-additional.conf') }),
  'redis-operator-exporter-port': z.object({ portName: z.string() }),
};

type BehaviourData = { [Id in keyof typeof BEHAVIOUR_DATA]: z.infer<(typeof BEHAVIOUR_DATA)[Id]> };
const behaviourShapes: { [Id in keyof BehaviourData]: z.ZodType<BehaviourData[Id]> } = BEHAVIOUR_DATA;

/**
 * A behaviour fact's `data` as rules read it: data missing a field, or holding another type, is a LedgerError
 * (the rule's violation at upstream.yaml) instead of a rule comparing the tree to "undefined".
 */
export function behaviourData<Id extends keyof BehaviourData>(
  ledger: UpstreamLedger,
  id: Id,
): BehaviourData[Id] {
  const parsed = behaviourShapes[id].safeParse(ledger.behaviour(id).data ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new LedgerError(`behaviour "${id}" lacks the data a rule reads (${problems.join('; ')})`);
  }
  return parsed.data;
}
