// What the policy rules read: the rendered trees, the violations they report, and small helpers over
// Kubernetes objects. The objects are typed by kind in tools/lib/kubernetes.ts (ofKind, workloads, podSpec,
// containersOf…): the schema check (schema.ts) validates every object against the same packages' schemas, which
// is what makes those types honest; the rules read fields and report what is missing.

import { parseArgoDuration } from '../lib/duration';
import { intValue } from '../lib/int-or-string';
import {
  type K8sObject,
  objectName,
  type ObjectIdentity,
  selectorMatches,
  type UntypedKubernetesObject,
} from '../lib/kubernetes';

export {
  type K8sObject,
  type KubernetesObject,
  objectName,
  parseQuantity,
  selectorMatches,
  serviceSelects,
} from '../lib/kubernetes';

/**
 * One rendered directory: an env overlay, the argocd/ tree, or another directory of this repository an
 * Application deploys (e.g. observability's rules).
 */
export interface RenderedTree {
  role: 'env' | 'argocd' | 'application-source';
  /** Repository-relative directory that was rendered, e.g. `gitops/envs/prod`. */
  source: string;
  /** The environment name for an env overlay (the folder name, which is also its namespace). */
  env?: string;
  /** Read them by kind with ofKind (tools/lib/kubernetes.ts), which types each object with its interface. */
  objects: UntypedKubernetesObject[];
}

export interface Violation {
  rule: string;
  /** Which object, e.g. `gitops/envs/prod: Rollout/api` (plus the container when it is about one). */
  where: string;
  /** What is wrong and what to change. */
  message: string;
}

export interface Rule {
  name: string;
  summary: string;
  /** `root` is the repository checkout the trees were rendered from. */
  check(trees: RenderedTree[], root: string): Violation[];
}

export function where(tree: RenderedTree, object: ObjectIdentity | K8sObject, detail?: string): string {
  return `${tree.source}: ${objectName(object)}${detail ? ` ${detail}` : ''}`;
}

// The untyped accessors below are being retired: the typed ones of the same names live in tools/lib/kubernetes.ts
// (ofKind(tree, 'Rollout') is IRollout[]). Each goes when no rule file imports it from here.

export const WORKLOAD_KINDS = ['Rollout', 'Deployment', 'StatefulSet', 'DaemonSet'];

/** @deprecated untyped: use ofKind from tools/lib/kubernetes.ts */
export function ofKind(tree: RenderedTree, ...kinds: string[]): K8sObject[] {
  return tree.objects.filter((object) => kinds.includes(object.kind));
}

/** @deprecated untyped: use workloads from tools/lib/kubernetes.ts */
export function workloads(tree: RenderedTree): K8sObject[] {
  return ofKind(tree, ...WORKLOAD_KINDS);
}

/**
 * @deprecated untyped: use analysisJobs from tools/lib/kubernetes.ts
 *
 * The Jobs the Argo Rollouts controller creates for AnalysisTemplate `job` metrics (one per measurement, in the
 * Rollout's namespace: upstream ledger rollouts-job-metric-one-job-per-measurement), as Job objects named
 * `<template>.<metric>`: the pod rules hold them to what every workload gives up.
 */
export function analysisJobs(tree: RenderedTree): K8sObject[] {
  return ofKind(tree, 'AnalysisTemplate', 'ClusterAnalysisTemplate').flatMap((template) =>
    (template.spec?.metrics ?? [])
      .filter((metric: K8sObject) => metric.provider?.job)
      .map((metric: K8sObject) => ({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: {
          name: `${template.metadata?.name}.${metric.name}`,
          namespace: template.metadata?.namespace,
          labels: metric.provider.job.metadata?.labels ?? {},
        },
        spec: metric.provider.job.spec ?? {},
      })),
  );
}

/** @deprecated untyped: use podSpec from tools/lib/kubernetes.ts */
export function podSpec(workload: K8sObject): K8sObject {
  return workload.spec?.template?.spec ?? {};
}

/** @deprecated untyped: use podLabels from tools/lib/kubernetes.ts */
export function podLabels(workload: K8sObject): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

export interface NamedContainer {
  container: K8sObject;
  label: string;
}

/** @deprecated untyped: use containersOf from tools/lib/kubernetes.ts */
export function containersOf(workload: K8sObject): NamedContainer[] {
  const spec = podSpec(workload);
  return [
    ...(spec.initContainers ?? []).map((c: K8sObject) => ({
      container: c,
      label: `initContainer "${c.name}"`,
    })),
    ...(spec.containers ?? []).map((c: K8sObject) => ({ container: c, label: `container "${c.name}"` })),
  ];
}

/**
 * @deprecated untyped: use minimumReplicas from tools/lib/kubernetes.ts
 * Replicas a workload keeps at least: the HPA floor when an HPA targets it, else spec.replicas (default 1). */
export function minimumReplicas(tree: RenderedTree, workload: K8sObject): number {
  const hpa = ofKind(tree, 'HorizontalPodAutoscaler').find(
    (h) =>
      h.spec?.scaleTargetRef?.kind === workload.kind &&
      h.spec?.scaleTargetRef?.name === workload.metadata?.name,
  );
  if (hpa) return hpa.spec?.minReplicas ?? 1;
  return workload.spec?.replicas ?? 1;
}

/**
 * @deprecated untyped: use matchingObjects from tools/lib/kubernetes.ts
 * The objects of `kind` whose selector (read by `selectorOf`) matches the workload's pod labels. */
export function matchingObjects(
  tree: RenderedTree,
  kind: string,
  workload: K8sObject,
  selectorOf: (object: K8sObject) => K8sObject | undefined,
): K8sObject[] {
  return ofKind(tree, kind).filter((candidate) =>
    selectorMatches(selectorOf(candidate), podLabels(workload)),
  );
}

/** An Argo Rollouts duration (a pause's seconds, or a Go duration such as "1m30s") in seconds; NaN if malformed. */
export function parseDurationSeconds(value: unknown): number {
  if (typeof value !== 'number' && typeof value !== 'string') return Number.NaN;
  try {
    return parseArgoDuration(value) / 1000;
  } catch {
    return Number.NaN;
  }
}

/** An IntOrString count or limit as Argo reads it (a non-integer string is 0); NaN when absent. */
export function parseCount(value: unknown): number {
  return typeof value === 'number' || typeof value === 'string' ? (intValue(value) as number) : Number.NaN;
}

/**
 * @deprecated untyped: use containerEnvValue from tools/lib/kubernetes.ts
 * The value of an environment variable a container sees: its env list first, then its envFrom ConfigMaps. */
export function containerEnvValue(
  tree: RenderedTree,
  container: K8sObject,
  variable: string,
): string | undefined {
  const direct = (container.env ?? []).find((e: K8sObject) => e.name === variable);
  if (direct && direct.value !== undefined) return String(direct.value);
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    if (!name) continue;
    const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === name);
    const value = configMap?.data?.[variable];
    if (value !== undefined) return String(value);
  }
  return undefined;
}
