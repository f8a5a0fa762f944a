// The one place that runs kustomize: the machine's `kubectl kustomize` (kustomize v5, offline, no cluster), as
// Argo CD renders a kustomization. verify-gitops, render-diff, the rehearsal and the specs all render here.
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { isKubernetesObject, type KubernetesObject } from './kubernetes';

export class RenderError extends Error {
  override name = 'RenderError';
}

/**
 * The objects of a YAML stream, in order; `origin` names the stream in the error when it does not parse or holds
 * a document that is not a Kubernetes object (a mapping with an apiVersion and a kind).
 */
export function parseObjects(text: string, origin: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const [index, document] of parseAllDocuments(text).entries()) {
    if (document.errors.length > 0)
      throw new RenderError(`${origin} is invalid YAML: ${document.errors[0].message}`);
    const value = document.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (!isKubernetesObject(value))
      throw new RenderError(
        `${origin}: document ${index + 1} is not a Kubernetes object (no apiVersion/kind)`,
      );
    objects.push(value);
  }
  return objects;
}

/**
 * `kubectl kustomize <directory>`: the YAML it prints and what it warned on stderr. `label` names the directory
 * in messages (default: the directory); a kustomization that does not build throws a RenderError carrying
 * kustomize's own message.
 */
export function kustomizeYaml(directory: string, label = directory): { yaml: string; warnings: string } {
  const result = spawnSync('kubectl', ['kustomize', directory], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error || result.status !== 0) {
    const stderr = (result.stderr || result.error?.message || `exit status ${result.status}`).trim();
    throw new RenderError(`kubectl kustomize ${label} failed: ${stderr}`);
  }
  return { yaml: result.stdout, warnings: result.stderr };
}

/** `kubectl kustomize <directory>`, parsed into objects (see kustomizeYaml); read them with ofKind (./kubernetes). */
export function kustomizeObjects(directory: string, label = directory): KubernetesObject[] {
  return parseObjects(kustomizeYaml(directory, label).yaml, `the kustomize build of ${label}`);
}
