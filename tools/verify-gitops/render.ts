// Renders the GitOps tree the way Argo CD does: real `kubectl kustomize` (kustomize v5, offline, no network,
// no cluster) on every env overlay under gitops/envs and on argocd/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { K8sObject, RenderedTree } from './model';

export const ENVS_DIRECTORY = 'gitops/envs';
export const ARGOCD_DIRECTORY = 'argocd';

export class RenderError extends Error {
  override name = 'RenderError';
}

/** The env overlays present in the tree, in directory order: exactly what the ApplicationSet generates. */
export function envFolders(root: string): string[] {
  const directory = join(root, ENVS_DIRECTORY);
  if (!existsSync(directory)) throw new RenderError(`${ENVS_DIRECTORY} not found under ${root}`);
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(directory, entry.name, 'kustomization.yaml')))
    .map((entry) => entry.name)
    .sort();
}

export function renderDirectory(root: string, relativeDirectory: string): K8sObject[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', join(root, relativeDirectory)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim();
    throw new RenderError(`kubectl kustomize ${relativeDirectory} failed: ${stderr}`);
  }
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(output)) {
    if (document.errors.length > 0) {
      throw new RenderError(`${relativeDirectory} rendered invalid YAML: ${document.errors[0].message}`);
    }
    const value = document.toJS() as unknown;
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
  }
  return objects;
}

/** Every env overlay, then argocd/. */
export function renderAll(root: string): RenderedTree[] {
  const trees: RenderedTree[] = envFolders(root).map((env) => {
    const source = `${ENVS_DIRECTORY}/${env}`;
    return { source, env, objects: renderDirectory(root, source) };
  });
  trees.push({ source: ARGOCD_DIRECTORY, objects: renderDirectory(root, ARGOCD_DIRECTORY) });
  return trees;
}
