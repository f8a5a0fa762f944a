// What the policy rules read: the rendered trees, and small helpers over Kubernetes objects (pod specs,
// label selectors, quantities, durations). Objects are plain parsed YAML; the schema check (schema.ts) is what
// guarantees their shape, the rules only read fields and report what is missing.

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML is untyped by nature; rules read fields defensively */
export type K8sObject = Record<string, any>;

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
  objects: K8sObject[];
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

export const WORKLOAD_KINDS = ['Rollout', 'Deployment', 'StatefulSet', 'DaemonSet'];

export function objectName(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name ?? '<unnamed>'}`;
}

export function where(tree: RenderedTree, object: K8sObject, detail?: string): string {
  return `${tree.source}: ${objectName(object)}${detail ? ` ${detail}` : ''}`;
}

export function ofKind(tree: RenderedTree, ...kinds: string[]): K8sObject[] {
  return tree.objects.filter((object) => kinds.includes(object.kind));
}

export function workloads(tree: RenderedTree): K8sObject[] {
  return ofKind(tree, ...WORKLOAD_KINDS);
}

export function podSpec(workload: K8sObject): K8sObject {
  return workload.spec?.template?.spec ?? {};
}

export function podLabels(workload: K8sObject): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

export interface NamedContainer {
  container: K8sObject;
  label: string;
}

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

/** Replicas a workload keeps at least: the HPA floor when an HPA targets it, else spec.replicas (default 1). */
export function minimumReplicas(tree: RenderedTree, workload: K8sObject): number {
  const hpa = ofKind(tree, 'HorizontalPodAutoscaler').find(
    (h) =>
      h.spec?.scaleTargetRef?.kind === workload.kind &&
      h.spec?.scaleTargetRef?.name === workload.metadata?.name,
  );
  if (hpa) return hpa.spec?.minReplicas ?? 1;
  return workload.spec?.replicas ?? 1;
}

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions); an empty selector matches all. */
export function selectorMatches(selector: K8sObject | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values: string[] = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!present || !values.includes(labels[expression.key])) return false;
        break;
      case 'NotIn':
        if (present && values.includes(labels[expression.key])) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** The objects of `kind` whose selector (read by `selectorOf`) matches the workload's pod labels. */
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

/** A Service selector is a plain label map. */
export function serviceSelects(service: K8sObject, labels: Record<string, string>): boolean {
  const selector: Record<string, string> = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A Kubernetes resource quantity ("250m", "1", "128Mi") as a number of base units; NaN if malformed. */
export function parseQuantity(value: unknown): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value ?? '').trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * QUANTITY_SUFFIX[match[2] ?? ''];
}

const DURATION_UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** An Argo Rollouts duration ("90s", "1m30s", or a bare number of seconds) in seconds; NaN if malformed. */
export function parseDurationSeconds(value: unknown): number {
  if (typeof value === 'number') return value;
  const text = String(value ?? '').trim();
  if (/^[0-9]+$/.test(text)) return Number(text);
  let total = 0;
  let rest = text;
  if (rest === '') return Number.NaN;
  while (rest.length > 0) {
    const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/.exec(rest);
    if (!match) return Number.NaN;
    total += Number(match[1]) * DURATION_UNIT_SECONDS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** An IntOrString limit/count field ("2" or 2); NaN when it is a template arg or malformed. */
export function parseCount(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^[0-9]+$/.test(value)) return Number(value);
  return Number.NaN;
}

/** The value of an environment variable a container sees: its env list first, then its envFrom ConfigMaps. */
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
