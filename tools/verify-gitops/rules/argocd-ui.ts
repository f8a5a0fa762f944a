// The Argo CD UI as the team's cockpit: deep links that lead to dashboards, variables and runbooks that exist,
// and Rollout notifications whose triggers, templates, subscriptions and teams resolve. The templates themselves
// are executed with Go's text/template and expr in argocd/argocd-ui.spec.ts; these rules hold the wiring.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isMapping, ofKind } from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { runbookUrlResolves } from './argocd';
import { argocdTrees, envTrees } from './define-rule';
import { behaviourData, defineLedgerRule, valueAt } from './ledger';

const DASHBOARDS_DIRECTORY = 'observability/grafana/dashboards';
const RUNBOOKS_DIRECTORY = 'docs/runbooks';
const ALERTMANAGER_CONFIG = 'observability/alertmanager/alertmanager.yaml';
/** The label Argo Rollouts' notifications read the owning team from (gitops/base/<workload>/rollout.yaml). */
export const TEAM_LABEL = 'opsforge.io/team';

/** What a deep link reads of a Grafana dashboard: its uid and its templating variables. */
const DASHBOARD = z.object({
  uid: z.string(),
  templating: z.object({ list: z.array(z.object({ name: z.unknown() })).default([]) }).optional(),
});

/** Every templating variable of every dashboard, by dashboard uid. */
function dashboardVariables(root: string): Map<string, Set<string>> {
  const variables = new Map<string, Set<string>>();
  for (const file of readdirSync(join(root, DASHBOARDS_DIRECTORY)).filter((f) => f.endsWith('.json'))) {
    const dashboard = DASHBOARD.parse(
      JSON.parse(readFileSync(join(root, DASHBOARDS_DIRECTORY, file), 'utf8')),
    );
    variables.set(dashboard.uid, new Set((dashboard.templating?.list ?? []).map((v) => String(v.name))));
  }
  return variables;
}

/** The teams Alertmanager routes on (`team="x"` matchers). */
function routedTeams(root: string): Set<string> {
  const config = readFileSync(join(root, ALERTMANAGER_CONFIG), 'utf8');
  return new Set([...config.matchAll(/team="([a-z0-9-]+)"/g)].map((match) => match[1]));
}

/** A deep link of argocd-cm (`<location>.links`, YAML): a title and a url are what make it a link. */
function deepLink(link: unknown): { title: string; url: string } | undefined {
  if (!isMapping(link) || typeof link.title !== 'string' || typeof link.url !== 'string') return undefined;
  return link.title && link.url ? { title: link.title, url: link.url } : undefined;
}

/** The annotations of the env Applications the ApplicationSet makes (what application.links can read). */
function envApplicationAnnotations(tree: RenderedTree): Record<string, string> {
  const set = ofKind(tree, 'ApplicationSet').find((s) => s.metadata?.name === 'opsforge-envs');
  return set?.spec.template.metadata.annotations ?? {};
}

const deepLinksResolve = defineLedgerRule({
  name: 'deep-links-resolve',
  summary:
    'argocd-cm deep links parse, name a title and url, and lead to dashboards, dashboard variables, runbooks and env Application annotations that exist',
  check({ ledger, trees, root, flag }) {
    const dashboards = dashboardVariables(root);
    const { locations } = behaviourData(ledger, 'argocd-deep-links');
    for (const tree of argocdTrees(trees)) {
      const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === 'argocd-cm');
      if (!configMap) continue;
      const annotations = envApplicationAnnotations(tree);
      for (const location of locations) {
        const key = `${location}.links`;
        const text = configMap.data?.[key];
        if (text === undefined) continue;
        const report = (message: string) => flag(where(tree, configMap), `${key}: ${message}`);
        let links: unknown;
        try {
          links = parseYaml(text);
        } catch (error) {
          report(`is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
          continue;
        }
        for (const entry of Array.isArray(links) ? links : []) {
          const link = deepLink(entry);
          if (!link) {
            report(`every link needs a title and a url (${JSON.stringify(entry)})`);
            continue;
          }
          for (const [, uid, query] of link.url.matchAll(/\/d\/([^/?]+)\/?\?(.*)$/gm)) {
            const variables = dashboards.get(uid);
            if (!variables) {
              report(`"${link.title}" opens dashboard ${uid}, which is not in ${DASHBOARDS_DIRECTORY}/`);
              continue;
            }
            for (const [, variable] of query.matchAll(/var-([A-Za-z0-9_]+)=/g)) {
              if (!variables.has(variable))
                report(`"${link.title}" sets var-${variable}, which dashboard ${uid} does not define`);
            }
          }
          for (const [, runbook] of link.url.matchAll(/"opsforge\.io\/runbooks-url" \}\}\/([^'\s?#]+)/g)) {
            if (!existsSync(join(root, RUNBOOKS_DIRECTORY, runbook)))
              report(
                `"${link.title}" opens runbook ${runbook}, which is not a file in ${RUNBOOKS_DIRECTORY}/`,
              );
          }
          for (const [, annotation] of link.url.matchAll(/"(opsforge\.io\/[a-z-]+)"/g)) {
            if (!(annotation in annotations))
              report(
                `"${link.title}" reads annotation ${annotation}, which the env Applications do not carry: set it in argocd/config/observability-links.yaml`,
              );
          }
        }
      }
    }
  },
});

/** What the rules read of the argo-rollouts chart's `notifications` values. */
const ROLLOUT_NOTIFICATIONS = z.object({
  templates: z.record(z.string(), z.string()).default({}),
  triggers: z.record(z.string(), z.string()).default({}),
  notifiers: z.record(z.string(), z.string()).default({}),
  subscriptions: z
    .array(
      z.object({ triggers: z.array(z.string()).default([]), recipients: z.array(z.unknown()).default([]) }),
    )
    .default([]),
});

/** A notification trigger's conditions (YAML in the values): the templates each sends, and when. */
const TRIGGER_CONDITIONS = z
  .array(z.object({ send: z.array(z.string()).default([]), when: z.string().optional() }))
  .nullable();

/** The argo-rollouts Application's notification values (argocd/platform/argo-rollouts.yaml). */
function rolloutNotifications(tree: RenderedTree) {
  const owner = ofKind(tree, 'Application').find((a) => a.spec.source?.chart === 'argo-rollouts');
  const values = valueAt(owner?.spec.source?.helm?.valuesObject, 'notifications');
  return owner && values ? { owner, values: ROLLOUT_NOTIFICATIONS.safeParse(values) } : undefined;
}

const rolloutNotificationsWired = defineLedgerRule({
  name: 'rollout-notifications-wired',
  summary:
    "Argo Rollouts notifications: subscribed triggers are ones the controller fires and defines, their templates and services exist, runbooks resolve, paused conditions do not read the Rollout's stale status, and every Rollout names a team Alertmanager routes",
  check({ ledger, trees, root, flag }) {
    const firedTriggers = new Set(behaviourData(ledger, 'rollouts-trigger-from-event-reason').triggers);
    const staleStatus = ledger.behaviour('rollouts-paused-event-previous-status');
    let subscribed = false;
    for (const tree of argocdTrees(trees)) {
      const found = rolloutNotifications(tree);
      if (!found) continue;
      subscribed = true;
      const report = (message: string) => flag(where(tree, found.owner), `notifications: ${message}`);
      if (!found.values.success) {
        report(`values are not the chart's notifications shape: ${found.values.error.issues[0]?.message}`);
        continue;
      }
      const { templates, triggers, notifiers, subscriptions } = found.values.data;
      const services = new Set(Object.keys(notifiers).map((k) => k.replace(/^service\.(webhook\.)?/, '')));
      for (const [key, text] of Object.entries(triggers)) {
        const conditions = TRIGGER_CONDITIONS.safeParse(parseYaml(text));
        if (!conditions.success) report(`${key} is not a list of trigger conditions`);
        for (const condition of (conditions.success && conditions.data) || []) {
          for (const template of condition.send ?? []) {
            if (!(`template.${template}` in templates))
              report(`${key} sends template "${template}", which is not defined: add template.${template}`);
          }
          if (key === 'trigger.on-rollout-paused' && /rollout\.status/.test(condition.when ?? '')) {
            report(
              `${key} reads rollout.status, which is stale at that event (${staleStatus.fact.split(',')[0]})`,
            );
          }
        }
      }
      for (const subscription of subscriptions) {
        for (const trigger of subscription.triggers) {
          if (!firedTriggers.has(trigger))
            report(
              `subscribes to ${trigger}, which no Rollout event fires (ledger rollouts-trigger-from-event-reason)`,
            );
          else if (!(`trigger.${trigger}` in triggers))
            report(`subscribes to ${trigger} without defining trigger.${trigger}`);
        }
        for (const recipient of subscription.recipients) {
          if (!services.has(String(recipient).split(':')[0]))
            report(`subscribes recipient "${recipient}", whose service is not among the notifiers`);
        }
      }
      for (const [key, text] of Object.entries(templates)) {
        for (const [, url] of text.matchAll(/"runbook_url":\s*"([^"]+)"/g)) {
          if (!runbookUrlResolves(root, url))
            report(`${key} links runbook ${url}, which is not a file in ${RUNBOOKS_DIRECTORY}/`);
        }
      }
    }
    if (!subscribed) return;
    const teams = routedTeams(root);
    for (const tree of envTrees(trees)) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const team = rollout.metadata?.labels?.[TEAM_LABEL];
        if (!team || !teams.has(team))
          flag(
            where(tree, rollout),
            `label ${TEAM_LABEL}="${team ?? ''}" is not a team Alertmanager routes (${[...teams].join(', ')}): its notifications would reach no team`,
          );
      }
    }
  },
});

export const argocdUiRules = [deepLinksResolve, rolloutNotificationsWired];
