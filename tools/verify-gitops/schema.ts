// Validates every rendered object against its published schema with the kubernetes-models packages: core
// Kubernetes (kubernetes-models) and the CRDs this tree uses (Argo Rollouts, Argo CD, prometheus-operator,
// Gateway API, External Secrets), and, for CRDs no package ships, the upstream CRD's own schema saved in
// crd-schemas/ (crd-schemas.ts). A kind neither knows is an error, never a skip: an object nobody can validate is
// an object nobody has checked.
//
// The packages are ES modules, so this file is loaded by the CLI (tsx), not inside jest; the spec runs the
// CLI as a child process to exercise it.
import { isKubernetesObject } from '../lib/kubernetes';
import { crdSchemaProblem } from './crd-schemas';
import type { KubernetesObject, RenderedTree, Violation } from './model';
import { objectName } from './model';
import { unknownFieldViolations } from './strict-fields';

/** CRD model packages, tried in order for a non-core API group. */
const CRD_PACKAGES = [
  '@kubernetes-models/argo-rollouts',
  '@kubernetes-models/argo-cd',
  '@kubernetes-models/prometheus-operator',
  '@kubernetes-models/gateway-api',
  '@kubernetes-models/external-secrets',
];

interface ModelClass {
  new (data: KubernetesObject): { validate(): void };
}

const moduleCache = new Map<string, Record<string, unknown> | null>();

async function loadModule(specifier: string): Promise<Record<string, unknown> | null> {
  if (!moduleCache.has(specifier)) {
    try {
      moduleCache.set(specifier, (await import(specifier)) as Record<string, unknown>);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (
        code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED' &&
        code !== 'ERR_MODULE_NOT_FOUND' &&
        code !== 'MODULE_NOT_FOUND'
      ) {
        throw error;
      }
      moduleCache.set(specifier, null);
    }
  }
  return moduleCache.get(specifier) ?? null;
}

/** The module of the package that defines an apiVersion/kind, or undefined when none does. */
export async function modelSpecifier(apiVersion: string, kind: string): Promise<string | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const candidates =
    group === '' || !group.includes('.') || group.endsWith('.k8s.io')
      ? [group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`]
      : [];
  // Gateway API is a k8s.io group but ships as a CRD package.
  candidates.push(...CRD_PACKAGES.map((pkg) => `${pkg}/${group}/${version}`));
  for (const specifier of candidates) {
    const loaded = await loadModule(specifier);
    if (typeof loaded?.[kind] === 'function') return specifier;
  }
  return undefined;
}

/** The model class for an apiVersion/kind, or undefined when no installed package defines it. */
export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const specifier = await modelSpecifier(apiVersion, kind);
  return specifier === undefined ? undefined : ((await loadModule(specifier))?.[kind] as ModelClass);
}

function describeValidationError(error: unknown): string {
  const details = (error as { errors?: { instancePath?: string; message?: string }[] }).errors;
  if (Array.isArray(details) && details.length > 0) {
    return details
      .slice(0, 5)
      .map((detail) => `${detail.instancePath || '/'} ${detail.message ?? 'is invalid'}`)
      .join('; ');
  }
  return (error as Error).message;
}

/**
 * kustomize's secretGenerator wraps base64 at 76 columns; the API server's decoder (Go's encoding/base64)
 * ignores those newlines, so the format check must too.
 */
function normalizedForValidation(object: KubernetesObject): KubernetesObject {
  if (object.kind !== 'Secret' || object.data === null || typeof object.data !== 'object') return object;
  const data = Object.fromEntries(
    Object.entries(object.data).map(([key, value]) => [
      key,
      typeof value === 'string' ? value.replace(/[\r\n]/g, '') : value,
    ]),
  );
  return { ...object, data };
}

/** Why a parsed object does not match its schema, or undefined when it does. */
export async function validateObject(object: unknown): Promise<string | undefined> {
  if (!isKubernetesObject(object)) return 'has no apiVersion/kind';
  const model = await modelFor(object.apiVersion, object.kind);
  const crdProblem = model ? null : crdSchemaProblem(object);
  if (crdProblem !== null) return crdProblem;
  if (!model) {
    return `unknown kind ${object.kind} in ${object.apiVersion}: no schema in the kubernetes-models packages; fix the apiVersion/kind or add the model package that defines it`;
  }
  try {
    new model(normalizedForValidation(object)).validate();
    return undefined;
  } catch (error) {
    return `does not match the ${object.apiVersion} ${object.kind} schema: ${describeValidationError(error)}`;
  }
}

export async function validateTrees(trees: RenderedTree[]): Promise<Violation[]> {
  const violations: Violation[] = [];
  const specifiers = new Map<KubernetesObject, string>();
  for (const tree of trees) {
    for (const object of tree.objects) {
      const problem = await validateObject(object);
      if (problem)
        violations.push({ rule: 'schema', where: `${tree.source}: ${objectName(object)}`, message: problem });
      const specifier = problem ? undefined : await modelSpecifier(object.apiVersion, object.kind);
      if (specifier) specifiers.set(object, specifier);
    }
  }
  return [...violations, ...unknownFieldViolations(trees, specifiers)];
}
