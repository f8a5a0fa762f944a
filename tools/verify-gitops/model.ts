// What the policy rules read: the rendered trees, the violations they report, and small helpers over
// Kubernetes objects. The objects are typed by kind in tools/lib/kubernetes.ts (ofKind, workloads, podSpec,
// containersOf…): the schema check (schema.ts) validates every object against the same packages' schemas, which
// is what makes those types honest; the rules read fields and report what is missing.

import { parseArgoDuration } from '../lib/duration';
import { intValue } from '../lib/int-or-string';
import { type KubernetesObject, objectName, type ObjectIdentity } from '../lib/kubernetes';

export {
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
  objects: KubernetesObject[];
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

export function where(tree: RenderedTree, object: ObjectIdentity, detail?: string): string {
  return `${tree.source}: ${objectName(object)}${detail ? ` ${detail}` : ''}`;
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
