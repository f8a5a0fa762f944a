// The one place that runs kustomize: the machine's `kubectl kustomize` (kustomize v5, offline, no cluster), as
// Argo CD renders a kustomization. verify-gitops, render-diff, the rehearsal and the specs all render here.
import { execFileSync } from 'node:child_process';
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
 * `kubectl kustomize <directory>`, parsed. `label` names the directory in messages (default: the directory);
 * a kustomization that does not build throws a RenderError carrying kustomize's own message.
 */
export function kustomizeBuild(directory: string, label = directory): K8sObject[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', directory], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim();
    throw new RenderError(`kubectl kustomize ${label} failed: ${stderr}`);
  }
  return parseObjects(output, `the kustomize build of ${label}`);
}
