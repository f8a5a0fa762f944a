// How Argo CD renders each platform Application (argocd/platform/*.yaml), as a `helm template` command: the
// chart at its pinned version from its repository, the release name, the destination namespace, the values
// (inline valuesObject, or valueFiles read from this repository through the `$values` ref source), and the
// cluster facts Argo CD passes to helm (Kubernetes version, API versions) so that charts which render a
// ServiceMonitor only when the CRD exists render it here too. A chart read from another git repository at a
// commit (a source with a path and helm settings) is rendered from a checkout of that commit, as Argo CD does;
// Applications that point at a path of this repository are rendered with kustomize.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

interface Source {
  repoURL: string;
  chart?: string;
  path?: string;
  targetRevision: string;
  ref?: string;
  helm?: { releaseName?: string; valuesObject?: unknown; valueFiles?: string[] };
}

interface PlatformApplication {
  metadata: { name: string };
  spec: { source?: Source; sources?: Source[]; destination: { namespace: string } };
}

/** A git repository to check out at a commit before helm can render the chart in it. */
export interface Checkout {
  repoURL: string;
  revision: string;
  dir: string;
}

export type Render =
  | { app: string; kind: 'helm'; args: string[]; valuesObject?: unknown; checkout?: Checkout }
  | { app: string; kind: 'kustomize'; path: string };

export const PLATFORM_DIR = join('argocd', 'platform');

export function loadPlatformApplications(root: string): PlatformApplication[] {
  return readdirSync(join(root, PLATFORM_DIR))
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => parse(readFileSync(join(root, PLATFORM_DIR, name), 'utf8')) as PlatformApplication);
}

/**
 * The render of one Application. `repoURL` is this repository's URL as argocd/ names it; `valuesFile` is where
 * the caller writes an inline valuesObject (helm reads values from files).
 */
export function renderOf(
  application: PlatformApplication,
  options: {
    repoURL: string;
    kubeVersion: string;
    apiVersions: string[];
    valuesFile: string;
    checkoutsDir: string;
  },
): Render {
  const sources = application.spec.sources ?? (application.spec.source ? [application.spec.source] : []);
  const name = application.metadata.name;
  const gitChart = sources.find(
    (source) => !source.chart && source.path && source.repoURL !== options.repoURL,
  );
  const chart = sources.find((source) => source.chart) ?? gitChart;
  if (!chart) {
    const own = sources.find((source) => source.repoURL === options.repoURL && source.path);
    if (!own?.path) throw new Error(`${name}: neither a chart nor a path of this repository`);
    return { app: name, kind: 'kustomize', path: own.path };
  }
  if (gitChart && !/^[0-9a-f]{40}$/.test(gitChart.targetRevision))
    throw new Error(
      `${name}: the chart in ${gitChart.repoURL} is read at ${gitChart.targetRevision}, not at a commit`,
    );
  const checkout = gitChart && {
    repoURL: gitChart.repoURL,
    revision: gitChart.targetRevision,
    dir: join(options.checkoutsDir, name),
  };
  const refs = new Map(
    sources.filter((source) => source.ref).map((source) => [source.ref as string, source]),
  );
  const values = (chart.helm?.valueFiles ?? []).map((file) => {
    const match = /^\$([^/]+)\/(.+)$/.exec(file);
    if (!match) throw new Error(`${name}: value file ${file} is not read through a ref source`);
    const ref = refs.get(match[1]);
    if (!ref || ref.repoURL !== options.repoURL)
      throw new Error(`${name}: value file ${file} names ref ${match[1]}, which is not this repository`);
    return match[2];
  });
  const args = [
    'template',
    chart.helm?.releaseName ?? name,
    ...(checkout
      ? [join(checkout.dir, chart.path as string)]
      : [chart.chart as string, '--repo', chart.repoURL, '--version', chart.targetRevision]),
    '--namespace',
    application.spec.destination.namespace,
    '--include-crds',
    '--kube-version',
    options.kubeVersion,
    ...options.apiVersions.flatMap((apiVersion) => ['--api-versions', apiVersion]),
    ...values.flatMap((file) => ['--values', file]),
  ];
  if (chart.helm?.valuesObject !== undefined) {
    args.push('--values', options.valuesFile);
    return { app: name, kind: 'helm', args, valuesObject: chart.helm.valuesObject, checkout };
  }
  return { app: name, kind: 'helm', args, checkout };
}
