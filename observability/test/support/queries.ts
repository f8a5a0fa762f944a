import { readFileSync } from 'node:fs';
import { ofKind } from '../../../tools/lib/kubernetes';
import { kustomizeObjects } from '../../../tools/lib/kustomize';
import { substituteArgs } from '../../../tools/lib/template-args';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { allRules } from './prometheus-rules';
import { expandGrafanaVariables, grafanaVariableSelector } from './promql';
import { listFiles, observabilityDir, repoPath } from './repo';

export interface NamedQuery {
  /** Where the expression lives, for failure messages: file and rule, panel or metric. */
  where: string;
  expr: string;
}

export const dashboardsDir = path.join(observabilityDir, 'grafana', 'dashboards');

export interface Dashboard {
  uid: string;
  title: string;
  panels: Array<{
    id: number;
    gridPos: { x: number; y: number; w: number; h: number };
    type: string;
    title: string;
    datasource?: { uid: string };
    targets?: Array<{ expr: string }>;
  }>;
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}

export function loadDashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return listFiles(dashboardsDir, ['.json']).map((file) => ({
    file,
    dashboard: JSON.parse(readFileSync(file, 'utf8')) as Dashboard,
  }));
}

export function ruleQueries(): NamedQuery[] {
  return allRules().map((rule) => ({
    where: `${path.basename(rule.file)}: ${rule.alert ?? rule.record}`,
    expr: rule.expr,
  }));
}

export function dashboardQueries(): NamedQuery[] {
  return loadDashboards().flatMap(({ file, dashboard }) => [
    ...dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `${path.basename(file)}: panel "${panel.title}"`,
        expr: expandGrafanaVariables(target.expr),
      })),
    ),
    ...dashboard.templating.list
      .filter((variable) => variable.type === 'query')
      .map((variable) => {
        const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
        const selector = grafanaVariableSelector(query);
        if (!selector)
          throw new Error(`${path.basename(file)}: variable ${variable.name} is not label_values()`);
        return { where: `${path.basename(file)}: variable ${variable.name}`, expr: selector };
      }),
  ]);
}

/**
 * The AnalysisTemplates as the dev overlay renders them (real kustomize), with their `{{args.x}}` filled in:
 * defaults where the template has them, a sample value for the ones the Rollout passes.
 */
function resolvedQuery(template: string, query: string, args: Map<string, string>): string {
  const { text, unresolved } = substituteArgs(query, (name) => args.get(name));
  if (unresolved.length > 0)
    throw new Error(`AnalysisTemplate ${template} uses unknown arg ${unresolved.join(', ')}`);
  return text;
}

export async function analysisTemplateQueries(): Promise<NamedQuery[]> {
  const rendered = kustomizeObjects(repoPath('gitops', 'envs', 'dev'), 'gitops/envs/dev');
  return ofKind({ objects: rendered }, 'AnalysisTemplate').flatMap((template) => {
    const name = template.metadata?.name ?? '<unnamed>';
    const args = new Map(
      (template.spec.args ?? []).map((arg) => [arg.name, arg.value ?? `sample-${arg.name}`]),
    );
    return (template.spec.metrics ?? []).flatMap((metric) => {
      const query = metric.provider.prometheus?.query;
      return query === undefined
        ? []
        : [{ where: `AnalysisTemplate ${name}: ${metric.name}`, expr: resolvedQuery(name, query, args) }];
    });
  });
}

export function platformMetrics(): Map<string, string> {
  const bySource = parseAllDocuments(
    readFileSync(path.join(observabilityDir, 'platform-metrics.yaml'), 'utf8'),
  )[0].toJS() as Record<string, string[]>;
  return new Map(
    Object.entries(bySource).flatMap(([source, names]) => names.map((name) => [name, source] as const)),
  );
}
