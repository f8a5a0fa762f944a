// The one place that runs kustomize: the machine's `kubectl kustomize` (kustomize v5, offline, no cluster), as
// Argo CD renders a kustomization. verify-gitops, render-diff, the rehearsal and the specs all render here.
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './kubernetes';

export class RenderError extends Error {
  override name = 'RenderError';
}

/** The objects of a YAML stream, in order; `origin` names the stream in the error when it does not parse. */
export function parseObjects(text: string, origin: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0)
      throw new RenderError(`${origin} is invalid YAML: ${document.errors[0].message}`);
    const value = document.toJS() as unknown;
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
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

/** `kubectl kustomize <directory>`, parsed (see kustomizeYaml). */
export function kustomizeBuild(directory: string, label = directory): K8sObject[] {
  return parseObjects(kustomizeYaml(directory, label).yaml, `the kustomize build of ${label}`);
}
