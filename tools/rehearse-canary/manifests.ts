// What the rehearsal takes from the rendered GitOps tree (`kubectl kustomize gitops/envs/<env>`), never
// from a copy: the Rollout (its first canary weight, when its analysis starts, the args it passes), the
// AnalysisTemplates it references, and the ServiceMonitor that decides which labels its pods' series carry.
// The AnalysisRun spec is built the way the Rollout controller builds it (utils/analysis/helpers.go,
// utils/analysis/factory.go, utils/template/template.go).
import { join } from 'node:path';
import { parseGoDuration } from '../lib/duration';
import {
  isMapping,
  type KubernetesObject as RenderedObject,
  selectorMatches,
  serviceSelects,
} from '../lib/kubernetes';
import { kustomizeObjects } from '../lib/kustomize';
import { substituteArgs as substituteTemplateArgs } from '../lib/template-args';
import type { MetricSpec } from './analysis-run';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
}

interface RolloutArgument {
  name: string;
  value?: string;
  valueFrom?: { podTemplateHashValue?: 'Stable' | 'Latest'; fieldRef?: { fieldPath: string } };
}

interface TemplateArgument {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: unknown };
}

interface RolloutAnalysis {
  templates: { templateName: string; clusterScope?: boolean }[];
  args?: RolloutArgument[];
  startingStep?: number;
  dryRun?: { metricName: string }[];
}

interface CanaryStep {
  setWeight?: number;
  pause?: { duration?: string | number };
  analysis?: RolloutAnalysis;
}

const REPOSITORY_ROOT = join(__dirname, '..', '..');

/** A rendered object with the name and mapping spec (if any) the rehearsal reads (kustomize names every object). */
function isNamedObject(object: RenderedObject): object is RenderedObject & KubernetesObject {
  return (
    isMapping(object.metadata) &&
    typeof object.metadata.name === 'string' &&
    (object.spec === undefined || isMapping(object.spec))
  );
}

/** Renders an env overlay with the machine's kubectl (kustomize built in, tools/lib/kustomize.ts) and parses every object. */
export async function renderOverlay(
  environment: string,
  root = REPOSITORY_ROOT,
): Promise<KubernetesObject[]> {
  return kustomizeObjects(join(root, 'gitops', 'envs', environment)).map((object) => {
    if (!isNamedObject(object))
      throw new Error(`the ${environment} overlay renders a ${object.kind} without a name`);
    return object;
  });
}

function find(objects: KubernetesObject[], kind: string, name: string): KubernetesObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`the rendered manifests have no ${kind} named ${name}`);
  return found;
}

/** Everything about one Rollout's canary that the rehearsal needs, read from the rendered objects. */
export interface CanaryPlan {
  rolloutName: string;
  namespace: string;
  /** Canary weight of the first setWeight step: the share of traffic the canary gets first. */
  firstWeight: number;
  /** Pause time (production) between the first setWeight and the analysis run's creation. */
  analysisStartDelayMs: number;
  /** Every setWeight, at its production time counted from the first one. */
  weightSchedule: { atMs: number; weight: number }[];
  /** When the last step is done (production time from the first setWeight): the Rollout promotes and ends a background run. */
  completesAfterMs: number;
  templateNames: string[];
  /** The AnalysisRun's metrics, arguments substituted. */
  metrics: MetricSpec[];
  dryRunMetrics: Set<string>;
  /** The resolved AnalysisRun args, for the report. */
  args: Record<string, string>;
  /** The scrape interval the ServiceMonitor asks for. */
  scrapeIntervalMs: number;
  /** The labels a pod's series carry once scraped (apart from pod and rollouts_pod_template_hash). */
  targetLabels: (pod: { name: string; hash: string }) => Record<string, string>;
}

function pauseMs(step: CanaryStep, rolloutName: string): number {
  const duration = step.pause?.duration;
  if (duration === undefined) {
    throw new Error(
      `Rollout ${rolloutName} pauses indefinitely before its analysis starts: nothing would be analysed without a human`,
    );
  }
  return typeof duration === 'number'
    ? duration * 1000
    : /^\d+$/.test(duration)
      ? Number(duration) * 1000
      : parseGoDuration(duration);
}

/** fieldpath.ExtractFieldPathAsString for the metadata paths Argo accepts on a Rollout. */
function extractFieldPath(rollout: KubernetesObject, fieldPath: string): string {
  const metadata = rollout.metadata;
  if (fieldPath === 'metadata.name') return metadata.name;
  if (fieldPath === 'metadata.namespace') return metadata.namespace ?? 'default';
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (keyed) return (keyed[1] === 'labels' ? metadata.labels : metadata.annotations)?.[keyed[2]] ?? '';
  throw new Error(
    `fieldRef ${fieldPath} is not reproduced by the rehearsal (only metadata.name, .namespace, .labels[...], .annotations[...])`,
  );
}

/**
 * ResolveQuotedArgs over the metric's JSON, as the controller does: every `{{ args.NAME }}` in any string
 * field is replaced by the argument's value (JSON-escaped), and an unknown placeholder is an error.
 */
export function substituteArgs(metric: MetricSpec, args: Record<string, string>): MetricSpec {
  const { text, unresolved } = substituteTemplateArgs(JSON.stringify(metric), (name) =>
    Object.hasOwn(args, name) ? JSON.stringify(args[name]).slice(1, -1) : undefined,
  );
  if (unresolved.length > 0)
    throw new Error(`metric ${metric.name}: failed to resolve ${unresolved.join(', ')}`);
  return JSON.parse(text) as MetricSpec;
}

/** MergeArgs: the Rollout's values override the templates' defaults; an argument left without value is an error. */
function mergeArgs(
  templateArgs: TemplateArgument[],
  rolloutArgs: Record<string, string>,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const argument of templateArgs) {
    if (argument.valueFrom?.secretKeyRef) {
      throw new Error(
        `argument ${argument.name} comes from a Secret: the rehearsal has no cluster to read it from`,
      );
    }
    const value = Object.hasOwn(rolloutArgs, argument.name) ? rolloutArgs[argument.name] : argument.value;
    if (value === undefined) throw new Error(`args.${argument.name} was not resolved`);
    merged[argument.name] = value;
  }
  return merged;
}

/**
 * Reads the canary plan of one Rollout. `hashes` are the pod-template hashes the rehearsal gives its
 * stable and canary pods, which the controller would read from the two ReplicaSets.
 */
export function canaryPlan(
  objects: KubernetesObject[],
  rolloutName: string,
  hashes: { stable: string; canary: string },
): CanaryPlan {
  const rollout = find(objects, 'Rollout', rolloutName);
  const canary = (
    rollout.spec?.strategy as { canary?: { steps?: CanaryStep[]; analysis?: RolloutAnalysis } } | undefined
  )?.canary;
  if (!canary) throw new Error(`Rollout ${rolloutName} has no canary strategy`);
  const steps = canary.steps ?? [];
  const firstWeightIndex = steps.findIndex((step) => step.setWeight !== undefined);
  if (firstWeightIndex < 0) throw new Error(`Rollout ${rolloutName} has no setWeight step`);

  // Background analysis starts once the rollout reaches startingStep (0 when unset); a step analysis when
  // the first analysis step is reached. Either way the time in between is the pauses' durations.
  let analysis: RolloutAnalysis;
  let analysisStepIndex: number;
  if (canary.analysis) {
    analysis = canary.analysis;
    analysisStepIndex = canary.analysis.startingStep ?? 0;
  } else {
    analysisStepIndex = steps.findIndex((step) => step.analysis !== undefined);
    if (analysisStepIndex < 0)
      throw new Error(
        `Rollout ${rolloutName} runs no analysis: no canary would ever be aborted automatically`,
      );
    analysis = steps[analysisStepIndex].analysis!;
  }
  if (analysisStepIndex < firstWeightIndex) {
    throw new Error(
      `Rollout ${rolloutName} starts its analysis before the canary takes any traffic (step ${analysisStepIndex})`,
    );
  }
  let analysisStartDelayMs = 0;
  for (let index = firstWeightIndex + 1; index < analysisStepIndex; index += 1) {
    if (steps[index].pause) analysisStartDelayMs += pauseMs(steps[index], rolloutName);
  }

  const weightSchedule: CanaryPlan['weightSchedule'] = [];
  let elapsedMs = 0;
  for (let index = firstWeightIndex; index < steps.length; index += 1) {
    if (steps[index].setWeight !== undefined)
      weightSchedule.push({ atMs: elapsedMs, weight: steps[index].setWeight! });
    // An indefinite pause waits for a human: the rehearsal's clock stops there (the run keeps measuring).
    if (steps[index].pause) {
      if (steps[index].pause!.duration === undefined) {
        elapsedMs = Infinity;
        break;
      }
      elapsedMs += pauseMs(steps[index], rolloutName);
    }
  }

  const rolloutArgs: Record<string, string> = {};
  for (const argument of analysis.args ?? []) {
    if (argument.value !== undefined) rolloutArgs[argument.name] = argument.value;
    else if (argument.valueFrom?.podTemplateHashValue === 'Latest')
      rolloutArgs[argument.name] = hashes.canary;
    else if (argument.valueFrom?.podTemplateHashValue === 'Stable')
      rolloutArgs[argument.name] = hashes.stable;
    else if (argument.valueFrom?.fieldRef)
      rolloutArgs[argument.name] = extractFieldPath(rollout, argument.valueFrom.fieldRef.fieldPath);
    else
      throw new Error(
        `Rollout ${rolloutName}: argument ${argument.name} has neither a value nor a valueFrom the rehearsal can resolve`,
      );
  }

  // FlattenTemplates: metrics of every template, args merged by name.
  const templateArgs: TemplateArgument[] = [];
  const templateMetrics: MetricSpec[] = [];
  const dryRunMetrics = new Set<string>();
  const dryRunRules = [...(analysis.dryRun ?? [])];
  for (const reference of analysis.templates) {
    const kind = reference.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
    const template = find(objects, kind, reference.templateName);
    const spec = template.spec as {
      args?: TemplateArgument[];
      metrics: MetricSpec[];
      dryRun?: { metricName: string }[];
    };
    for (const argument of spec.args ?? []) {
      const existing = templateArgs.find((candidate) => candidate.name === argument.name);
      if (!existing) templateArgs.push({ ...argument });
      else if (
        existing.value !== undefined &&
        argument.value !== undefined &&
        existing.value !== argument.value
      ) {
        throw new Error(
          `Argument \`${argument.name}\` specified multiple times with different values: '${existing.value}', '${argument.value}'`,
        );
      } else if (existing.value === undefined) Object.assign(existing, argument);
    }
    templateMetrics.push(...spec.metrics);
    dryRunRules.push(...(spec.dryRun ?? []));
  }
  for (const rule of dryRunRules) {
    const pattern = new RegExp(rule.metricName);
    const matched = templateMetrics.filter((metric) => pattern.test(metric.name));
    if (matched.length === 0) throw new Error(`dryRun rule ${rule.metricName} matches no metric`);
    for (const metric of matched) dryRunMetrics.add(metric.name);
  }
  const args = mergeArgs(templateArgs, rolloutArgs);
  const metrics = templateMetrics.map((metric) => substituteArgs(metric, args));

  const podLabels = ((rollout.spec?.template as { metadata?: { labels?: Record<string, string> } })?.metadata
    ?.labels ?? {}) as Record<string, string>;
  const namespace = rollout.metadata.namespace ?? 'default';
  const { scrapeIntervalMs, targetLabels } = scrapeLabelling(objects, namespace, podLabels);
  return {
    rolloutName,
    namespace,
    firstWeight: steps[firstWeightIndex].setWeight!,
    analysisStartDelayMs,
    weightSchedule,
    completesAfterMs: elapsedMs,
    templateNames: analysis.templates.map((reference) => reference.templateName),
    metrics,
    dryRunMetrics,
    args,
    scrapeIntervalMs,
    targetLabels,
  };
}

/** Prometheus label names allow [a-zA-Z0-9_]: the operator turns every other character into `_`. */
function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The target labels prometheus-operator gives a pod scraped through a ServiceMonitor: namespace, service
 * (the Service's name), job (the Service's name, or the value of its `jobLabel` label), pod, container,
 * endpoint (the port name), every podTargetLabels label (sanitised), then the endpoint's `replace`
 * relabelings with a fixed replacement. Only the first ServiceMonitor endpoint whose Service selects
 * the pods is reproduced; a relabeling that needs a source label is refused rather than guessed.
 */
function scrapeLabelling(objects: KubernetesObject[], namespace: string, podLabels: Record<string, string>) {
  const services = objects.filter((object) => object.kind === 'Service' && serviceSelects(object, podLabels));
  for (const monitor of objects.filter((object) => object.kind === 'ServiceMonitor')) {
    const spec = monitor.spec as {
      selector?: { matchLabels?: Record<string, string> };
      endpoints: {
        port?: string;
        interval?: string;
        relabelings?: {
          action?: string;
          replacement?: string;
          targetLabel?: string;
          sourceLabels?: string[];
        }[];
      }[];
      podTargetLabels?: string[];
      jobLabel?: string;
    };
    const service = services.find((candidate) =>
      selectorMatches(spec.selector, candidate.metadata.labels ?? {}),
    );
    if (!service) continue;
    const endpoint = spec.endpoints[0];
    const scrapeIntervalMs = parseGoDuration(endpoint.interval ?? '30s');
    const jobName = spec.jobLabel
      ? (service.metadata.labels?.[spec.jobLabel] ?? service.metadata.name)
      : service.metadata.name;
    return {
      scrapeIntervalMs,
      targetLabels: (pod: { name: string; hash: string }) => {
        const podWithHash: Record<string, string> = { ...podLabels, 'rollouts-pod-template-hash': pod.hash };
        const labels: Record<string, string> = {
          namespace,
          service: service.metadata.name,
          job: jobName,
          pod: pod.name,
          endpoint: endpoint.port ?? 'http',
        };
        for (const name of spec.podTargetLabels ?? []) {
          if (podWithHash[name] !== undefined) labels[sanitizeLabelName(name)] = podWithHash[name];
        }
        for (const relabeling of endpoint.relabelings ?? []) {
          if (
            (relabeling.action ?? 'replace') !== 'replace' ||
            relabeling.sourceLabels?.length ||
            !relabeling.targetLabel
          ) {
            throw new Error(
              `ServiceMonitor ${monitor.metadata.name}: relabeling ${JSON.stringify(relabeling)} is not reproduced by the rehearsal`,
            );
          }
          labels[relabeling.targetLabel] = relabeling.replacement ?? '$1';
        }
        return labels;
      },
    };
  }
  throw new Error(
    `no ServiceMonitor in namespace ${namespace} selects a Service of the pods labelled ${JSON.stringify(podLabels)}`,
  );
}
