// Renders the GitOps tree the way Argo CD does (tools/lib/kustomize.ts: real `kubectl kustomize`, offline) on every
// env overlay under gitops/envs, on argocd/, and on every other directory of this repository an Application deploys.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kustomizeObjects, parseObjects, RenderError } from '../lib/kustomize';
import { type KubernetesObject, ofKind } from '../lib/kubernetes';
import type { RenderedTree } from './model';

export const ENVS_DIRECTORY = 'gitops/envs';
export const ARGOCD_DIRECTORY = 'argocd';

/** The env overlays present in the tree, in directory order: exactly what the ApplicationSet generates. */
export function envFolders(root: string): string[] {
  const directory = join(root, ENVS_DIRECTORY);
  if (!existsSync(directory)) throw new RenderError(`${ENVS_DIRECTORY} not found under ${root}`);
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(directory, entry.name, 'kustomization.yaml')))
    .map((entry) => entry.name)
    .sort();
}

export function renderDirectory(root: string, relativeDirectory: string): KubernetesObject[] {
  return kustomizeObjects(join(root, relativeDirectory), relativeDirectory);
}

/**
 * What Argo CD deploys from a directory of this repository: the kustomize build when it has a
 * kustomization.yaml, else its YAML files (Argo CD's plain directory source; this tree uses no recursion).
 */
export function renderApplicationSource(root: string, relativeDirectory: string): KubernetesObject[] {
  const directory = join(root, relativeDirectory);
  if (existsSync(join(directory, 'kustomization.yaml'))) return renderDirectory(root, relativeDirectory);
  return readdirSync(directory)
    .filter((file) => /\.(ya?ml|json)$/.test(file))
    .sort()
    .flatMap((file) =>
      parseObjects(readFileSync(join(directory, file), 'utf8'), `${relativeDirectory}/${file}`),
    );
}

/** Directories of this repository that argocd/ Applications deploy, other than the env overlays and argocd/. */
function applicationSourceDirectories(root: string, argocd: readonly KubernetesObject[]): string[] {
  const applications = ofKind({ objects: argocd }, 'Application');
  const rootApplication = applications.find((app) => app.spec.source?.path === ARGOCD_DIRECTORY);
  const repoURL = rootApplication?.spec.source?.repoURL;
  const paths = applications
    .flatMap((app) => app.spec.sources ?? (app.spec.source ? [app.spec.source] : []))
    .filter((source) => source.repoURL === repoURL)
    .flatMap((source) => (typeof source.path === 'string' ? [source.path.replace(/\/+$/, '')] : []))
    .filter((path) => path !== ARGOCD_DIRECTORY && !path.startsWith(`${ENVS_DIRECTORY}/`))
    .filter((path) => existsSync(join(root, path)));
  return [...new Set(paths)].sort();
}

/** Every env overlay, argocd/, then every other directory of this repository an Application deploys. */
export function renderAll(root: string): RenderedTree[] {
  const trees: RenderedTree[] = envFolders(root).map((env) => {
    const source = `${ENVS_DIRECTORY}/${env}`;
    return { role: 'env' as const, source, env, objects: renderDirectory(root, source) };
  });
  const argocd = renderDirectory(root, ARGOCD_DIRECTORY);
  trees.push({ role: 'argocd', source: ARGOCD_DIRECTORY, objects: argocd });
  for (const source of applicationSourceDirectories(root, argocd)) {
    trees.push({ role: 'application-source', source, objects: renderApplicationSource(root, source) });
  }
  return trees;
}
