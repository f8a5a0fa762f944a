// The canary gate: AnalysisTemplates that resolve, decide within the pauses and never pass on no traffic,
// queries that parse, series Prometheus can tell apart, and a traffic router wired to the Rollout's Services.
import type { IAnalysisRunArgument } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisRunArgument';
import type { IAnalysisTemplateRef } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplateRef';
import type { IMetric } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Metric';
import type { ICanaryStrategy } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/CanaryStrategy';
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { z } from 'zod';
import {
  isMapping,
  type ObjectOfKind,
  objectName,
  ofKind,
  podLabels,
  selectorMatches,
  serviceSelects,
} from '../../lib/kubernetes';
import { argNames, substituteArgs } from '../../lib/template-args';
import { parseCount, parseDurationSeconds, type RenderedTree, where } from '../model';
import { argocdTrees, defineRule, eachObjectOfKind, envTrees } from './define-rule';
import { valueAt } from './ledger';

export const ANALYSIS_TEMPLATE_KINDS = ['AnalysisTemplate', 'ClusterAnalysisTemplate'] as const;
export type AnalysisTemplateObject = ObjectOfKind<(typeof ANALYSIS_TEMPLATE_KINDS)[number]>;

interface AnalysisUse {
  label: string;
  templates: IAnalysisTemplateRef[];
  args: IAnalysisRunArgument[];
}

export function analysisUses(rollout: IRollout): AnalysisUse[] {
  const canary = rollout.spec.strategy?.canary ?? {};
  const uses: AnalysisUse[] = [];
  if (canary.analysis) {
    uses.push({
      label: 'background analysis',
      templates: canary.analysis.templates ?? [],
      args: canary.analysis.args ?? [],
    });
  }
  (canary.steps ?? []).forEach((step, index) => {
    if (step.analysis) {
      uses.push({
        label: `step ${index} analysis`,
        templates: step.analysis.templates ?? [],
        args: step.analysis.args ?? [],
      });
    }
  });
  return uses;
}

function isPrometheusMetric(metric: IMetric): boolean {
  return metric.provider.prometheus !== undefined;
}

function templateNamed(
  tree: RenderedTree,
  reference: IAnalysisTemplateRef,
): AnalysisTemplateObject | undefined {
  const kind = reference.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
  return ofKind(tree, kind).find((t) => t.metadata?.name === reference.templateName);
}

/** Each Rollout of the trees that runs a canary, with its canary strategy and `at` to flag it by. */
export function* eachCanaryRollout(
  trees: RenderedTree[],
): Generator<{ tree: RenderedTree; rollout: IRollout; canary: ICanaryStrategy; at: string }> {
  for (const { tree, object: rollout, at } of eachObjectOfKind(trees, 'Rollout')) {
    const canary = rollout.spec.strategy?.canary;
    if (canary) yield { tree, rollout, canary, at };
  }
}

/** The timed pauses (seconds) of a canary's steps from the step its background analysis starts at. */
export function pausesOnceAnalysisStarts(rollout: IRollout): number[] {
  const canary = rollout.spec.strategy?.canary ?? {};
  return (canary.steps ?? [])
    .slice(canary.analysis?.startingStep ?? 0)
    .flatMap((step) =>
      step.pause?.duration !== undefined ? [parseDurationSeconds(step.pause.duration)] : [],
    );
}

/** The Gateway API traffic-router plugin's configuration of a Rollout (free-form in the Rollout's schema). */
export function gatewayApiPlugin(
  rollout: IRollout,
): { httpRoute?: unknown; namespace?: unknown } | undefined {
  const plugin = valueAt(rollout.spec.strategy?.canary?.trafficRouting?.plugins, 'argoproj-labs/gatewayAPI');
  return isMapping(plugin) ? plugin : undefined;
}

const analysisTemplatesResolve = defineRule({
  name: 'analysis-templates-resolve',
  summary:
    'every AnalysisTemplate a Rollout names exists in its env, receives every arg it needs, and uses only args it declares',
  check({ trees, flag }) {
    for (const { object: template, at } of eachObjectOfKind(trees, ...ANALYSIS_TEMPLATE_KINDS)) {
      const declared = new Set((template.spec.args ?? []).map((a) => a.name));
      for (const name of argNames(JSON.stringify(template.spec.metrics ?? []))) {
        if (!declared.has(name))
          flag(at, `uses {{args.${name}}} but declares no arg "${name}": add it to spec.args`);
      }
    }
    for (const tree of trees) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        for (const use of analysisUses(rollout)) {
          const supplied = new Set(use.args.map((a) => a.name));
          const accepted = new Set<string>();
          for (const reference of use.templates) {
            const template = templateNamed(tree, reference);
            if (!template) {
              flag(
                where(tree, rollout, use.label),
                `names AnalysisTemplate "${reference.templateName}", which ${tree.source} does not render: include the rollouts component or fix the name`,
              );
              continue;
            }
            for (const arg of template.spec.args ?? []) {
              accepted.add(arg.name);
              // A template-side default is a value or a secretKeyRef; a template-side fieldRef is not resolved
              // by the controller (argo-rollouts issue 3361), so the Rollout must pass that arg.
              const hasDefault = arg.value !== undefined || arg.valueFrom?.secretKeyRef !== undefined;
              if (!hasDefault && !supplied.has(arg.name)) {
                flag(
                  where(tree, rollout, use.label),
                  `does not pass arg "${arg.name}" that AnalysisTemplate ${reference.templateName} requires: add it under args`,
                );
              }
            }
          }
          for (const name of supplied) {
            if (!accepted.has(name)) {
              flag(
                where(tree, rollout, use.label),
                `passes arg "${name}", which none of its AnalysisTemplates declares: remove it or fix its name`,
              );
            }
          }
        }
      }
    }
  },
});

/** Seconds an AnalysisTemplate metric needs to fail a run: initialDelay + interval x (failureLimit + 1). */
export function decisionSeconds(metric: IMetric): number {
  const initialDelay = metric.initialDelay === undefined ? 0 : parseDurationSeconds(metric.initialDelay);
  const interval = parseDurationSeconds(metric.interval);
  const failureLimit = metric.failureLimit === undefined ? 0 : parseCount(metric.failureLimit);
  return initialDelay + interval * (failureLimit + 1);
}

/** Seconds an AnalysisTemplate metric keeps measuring: initialDelay + interval x (count - 1); Infinity without count. */
export function lifetimeSeconds(metric: IMetric): number {
  if (metric.count === undefined) return Number.POSITIVE_INFINITY;
  const initialDelay = metric.initialDelay === undefined ? 0 : parseDurationSeconds(metric.initialDelay);
  return initialDelay + parseDurationSeconds(metric.interval) * (parseCount(metric.count) - 1);
}

const pauseBudget = defineRule({
  name: 'pause-budget',
  summary:
    "background analysis decides within the canary's pauses (pause >= initialDelay + interval x (failureLimit + 1)), keeps measuring through all of them, and no pause waits for a human",
  check({ trees, flag }) {
    for (const { tree, rollout, canary, at } of eachCanaryRollout(trees)) {
      const report = (message: string) => flag(at, message);
      const steps = canary.steps ?? [];
      steps.forEach((step, index) => {
        if (step.pause && step.pause.duration === undefined) {
          report(
            `step ${index} pauses until someone promotes by hand: give it a duration so the analysis, not a person, decides`,
          );
        }
      });
      if (!canary.analysis) {
        if (!steps.some((s) => s.analysis))
          report(
            'runs a canary with no analysis: add the rollouts/ AnalysisTemplates so a bad release aborts by itself',
          );
        continue;
      }
      const startingStep = canary.analysis.startingStep ?? 0;
      const pauseSeconds = pausesOnceAnalysisStarts(rollout);
      const totalPause = pauseSeconds.reduce((sum, seconds) => sum + seconds, 0);
      const firstPause = pauseSeconds[0] ?? 0;
      for (const reference of canary.analysis.templates ?? []) {
        const template = templateNamed(tree, reference);
        // A job metric decides when its Job ends (rules/canary-acceptance.ts bounds it), not on an interval.
        for (const metric of (template?.spec.metrics ?? []).filter(isPrometheusMetric)) {
          const decision = decisionSeconds(metric);
          const lifetime = lifetimeSeconds(metric);
          const name = `${reference.templateName}/${metric.name}`;
          if (!(totalPause >= decision)) {
            report(
              `pauses ${totalPause}s in total after step ${startingStep}, less than the ${decision}s ${name} needs to fail a bad canary: lengthen the pauses`,
            );
          } else if (!(firstPause >= decision)) {
            report(
              `its first pause (${firstPause}s) ends before ${name} can decide (${decision}s): the canary reaches a larger weight unjudged; lengthen it`,
            );
          }
          if (!(lifetime >= totalPause)) {
            report(
              `${name} stops measuring after ${lifetime}s but the canary pauses ${totalPause}s: raise the metric's count so every weight is analysed`,
            );
          }
        }
      }
    }
  },
});

const analysisNoTrafficInconclusive = defineRule({
  name: 'analysis-no-traffic-inconclusive',
  summary:
    'every analysis metric has success and failure conditions guarding empty and NaN results, and inconclusiveLimit < count, so no traffic never passes',
  check({ trees, flag }) {
    for (const { tree, object: template } of eachObjectOfKind(trees, ...ANALYSIS_TEMPLATE_KINDS)) {
      // A job metric has no result to guard: its Job completes or fails (rules/canary-acceptance.ts).
      for (const metric of (template.spec.metrics ?? []).filter(isPrometheusMetric)) {
        const report = (message: string) => flag(where(tree, template, `metric "${metric.name}"`), message);
        if (!metric.successCondition || !metric.failureCondition) {
          report(
            'needs both successCondition and failureCondition: with one alone, a result that satisfies neither (no traffic) is decided instead of Inconclusive',
          );
        }
        for (const [field, condition] of [
          ['successCondition', metric.successCondition],
          ['failureCondition', metric.failureCondition],
        ] as const) {
          if (!condition) continue;
          if (!/len\(result\)/.test(condition))
            report(
              `${field} reads result[0] without checking len(result): an empty result errors instead of being Inconclusive`,
            );
          if (!/isNaN\(result\[0\]\)/.test(condition))
            report(`${field} does not guard isNaN(result[0]): a 0/0 ratio must be Inconclusive`);
        }
        const count = parseCount(metric.count);
        const inconclusiveLimit =
          metric.inconclusiveLimit === undefined ? 0 : parseCount(metric.inconclusiveLimit);
        if (!Number.isFinite(count)) {
          report('has no count: set how many measurements the run takes');
        } else if (!(inconclusiveLimit < count)) {
          report(
            `inconclusiveLimit ${inconclusiveLimit} is not below count ${count}: a canary with no traffic would finish Successful; lower it`,
          );
        }
        if (metric.consecutiveErrorLimit === undefined)
          report('has no consecutiveErrorLimit: set how many failed queries in a row end the run');
      }
    }
  },
});

/** The query an AnalysisRun would send, with each arg replaced by its default or, lacking one, a sample value. */
export function resolvedQuery(template: AnalysisTemplateObject, query: string): string {
  const defaults = new Map(
    (template.spec.args ?? []).map((arg) => [arg.name, arg.value ?? `sample-${arg.name}`]),
  );
  return substituteArgs(query, (name) => defaults.get(name) ?? `sample-${name}`).text;
}

/** Offset of the first PromQL syntax error, or undefined when the query parses. */
export function promqlSyntaxError(query: string): number | undefined {
  let errorAt: number | undefined;
  promqlParser.parse(query).iterate({
    enter(node) {
      if (node.type.isError && errorAt === undefined) errorAt = node.from;
    },
  });
  return errorAt;
}

const analysisQueriesParse = defineRule({
  name: 'analysis-queries-parse',
  summary: 'every Prometheus query of an AnalysisTemplate is valid PromQL once its args are filled in',
  check({ trees, flag }) {
    for (const { tree, object: template } of eachObjectOfKind(trees, ...ANALYSIS_TEMPLATE_KINDS)) {
      for (const metric of template.spec.metrics ?? []) {
        const query = metric.provider.prometheus?.query;
        if (typeof query !== 'string') continue;
        const resolved = resolvedQuery(template, query);
        const errorAt = promqlSyntaxError(resolved);
        if (errorAt !== undefined) {
          const context = resolved.slice(Math.max(0, errorAt - 30), errorAt + 30).replace(/\s+/g, ' ');
          flag(
            where(tree, template, `metric "${metric.name}"`),
            `query is not valid PromQL near "${context}": fix it before a canary depends on it`,
          );
        }
      }
    }
  },
});

/** A label selector as Helm values hold one (free-form: read it by this shape or not at all). */
export const LABEL_SELECTOR = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }))
    .optional(),
});

const canarySeriesLabelled = defineRule({
  name: 'canary-series-labelled',
  summary:
    'every analysed Rollout is scraped by a ServiceMonitor Prometheus selects, carrying rollouts-pod-template-hash, through a Service Argo Rollouts does not rewrite',
  check({ trees, flag }) {
    const argocd = argocdTrees(trees)[0];
    const prometheusChart = argocd
      ? ofKind(argocd, 'Application').find((a) => a.spec.source?.chart === 'kube-prometheus-stack')
      : undefined;
    const selectorValue = valueAt(
      prometheusChart?.spec.source?.helm?.valuesObject,
      'prometheus.prometheusSpec.serviceMonitorSelector',
    );
    const parsedSelector = LABEL_SELECTOR.safeParse(selectorValue ?? {});
    if (argocd && prometheusChart && !parsedSelector.success)
      flag(
        where(argocd, prometheusChart),
        'values prometheus.prometheusSpec.serviceMonitorSelector is not a label selector: the ServiceMonitors Prometheus selects cannot be checked',
      );
    const prometheusSelector =
      selectorValue !== undefined && parsedSelector.success ? parsedSelector.data : undefined;
    for (const { tree, rollout, canary, at } of eachCanaryRollout(envTrees(trees))) {
      if (analysisUses(rollout).length === 0) continue;
      const report = (message: string) => flag(at, message);
      const rewritten = new Set([canary.stableService, canary.canaryService].filter(Boolean));
      const services = ofKind(tree, 'Service').filter((s) => serviceSelects(s, podLabels(rollout)));
      const scrapedBy = (monitor: ObjectOfKind<'ServiceMonitor'>) =>
        services.filter((s) => selectorMatches(monitor.spec.selector, s.metadata?.labels ?? {}));
      const monitors = ofKind(tree, 'ServiceMonitor').filter((m) => scrapedBy(m).length > 0);
      if (monitors.length === 0) {
        report('no ServiceMonitor scrapes its pods: the analysis would never see the canary');
        continue;
      }
      for (const monitor of monitors) {
        for (const service of scrapedBy(monitor).filter((s) => rewritten.has(s.metadata?.name))) {
          report(
            `${objectName(monitor)} scrapes Service ${service.metadata?.name}, whose selector Argo Rollouts rewrites during a canary: the canary's series would carry the wrong service label; scrape a Service that always selects every pod`,
          );
        }
        if (!(monitor.spec.podTargetLabels ?? []).includes('rollouts-pod-template-hash')) {
          report(
            `${objectName(monitor)} does not carry rollouts-pod-template-hash (podTargetLabels): the analysis cannot select the canary's series`,
          );
        }
        if (prometheusSelector && !selectorMatches(prometheusSelector, monitor.metadata?.labels ?? {})) {
          report(
            `${objectName(monitor)} lacks the labels ${JSON.stringify(prometheusSelector.matchLabels ?? {})} the kube-prometheus-stack Prometheus selects: it would never be scraped`,
          );
        }
      }
    }
  },
});

const trafficRouterWired = defineRule({
  name: 'traffic-router-wired',
  summary:
    "a Rollout routed by the Gateway API plugin names an HTTPRoute in its own namespace (the plugin's default) whose backends are its stable and canary Services",
  check({ trees, flag }) {
    for (const { tree, rollout, canary, at } of eachCanaryRollout(trees)) {
      const plugin = gatewayApiPlugin(rollout);
      if (!plugin) continue;
      const report = (message: string) => flag(at, message);
      // Without `namespace` the plugin uses the Rollout's own (upstream.yaml,
      // gatewayapi-plugin-namespace-defaults-to-rollout), which kustomize's namespace transformer sets.
      if (plugin.namespace !== undefined && plugin.namespace !== rollout.metadata?.namespace) {
        report(
          `the Gateway API plugin looks for HTTPRoute ${String(plugin.httpRoute)} in namespace "${String(plugin.namespace)}", not the Rollout's "${rollout.metadata?.namespace}": drop the plugin's namespace (it defaults to the Rollout's)`,
        );
      }
      const route = ofKind(tree, 'HTTPRoute').find((r) => r.metadata?.name === plugin.httpRoute);
      if (!route) {
        report(
          `the Gateway API plugin routes HTTPRoute "${String(plugin.httpRoute)}", which ${tree.source} does not render`,
        );
        continue;
      }
      const backends = new Set(
        (route.spec.rules ?? []).flatMap((rule) => (rule.backendRefs ?? []).map((b) => b.name)),
      );
      for (const [role, service] of [
        ['stableService', canary.stableService],
        ['canaryService', canary.canaryService],
      ]) {
        if (!service) report(`routes traffic but sets no ${role}`);
        else if (!backends.has(service))
          report(
            `HTTPRoute ${route.metadata?.name} has no backendRef to its ${role} "${service}": the plugin could not shift weight to it`,
          );
        else if (!ofKind(tree, 'Service').some((s) => s.metadata?.name === service))
          report(`${role} "${service}" is not rendered`);
      }
    }
  },
});

export const canaryRules = [
  analysisTemplatesResolve,
  pauseBudget,
  analysisNoTrafficInconclusive,
  analysisQueriesParse,
  canarySeriesLabelled,
  trafficRouterWired,
];
