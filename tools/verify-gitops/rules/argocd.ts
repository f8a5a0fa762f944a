// Argo CD's objects: pinned sources that exist, AppProjects that allow what their Applications deploy, and
// notifications whose triggers, templates, services and runbooks all resolve.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import type { IApplicationSet } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSet';
import type { IApplicationSource } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSource';
import type { IApplicationSpec } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSpec';
import { parse as parseYaml } from 'yaml';
import { type ObjectIdentity, ofKind } from '../../lib/kubernetes';
import { ARGOCD_DIRECTORY } from '../render';
import { type RenderedTree, where } from '../model';
import { argocdTrees, defineRule, envTrees } from './define-rule';

const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** What deploys: an Application, or an ApplicationSet (through the Application spec of its template). */
export interface ApplicationOwner {
  owner: IApplication | IApplicationSet;
  spec: IApplicationSpec;
}

function applicationSpecs(tree: RenderedTree): ApplicationOwner[] {
  return [
    ...ofKind(tree, 'Application').map((app) => ({ owner: app, spec: app.spec })),
    ...ofKind(tree, 'ApplicationSet').map((set) => ({ owner: set, spec: set.spec.template.spec })),
  ];
}

export function sourcesOf(spec: IApplicationSpec): IApplicationSource[] {
  return spec.sources ?? (spec.source ? [spec.source] : []);
}

/** The root Application (argocd/bootstrap): the one that syncs the argocd/ tree itself. */
function isRootApplication(owner: IApplication | IApplicationSet): boolean {
  return owner.kind === 'Application' && owner.spec.source?.path === ARGOCD_DIRECTORY;
}

export interface TrackedRepository {
  repoURL?: string;
  revision?: string;
}

/** The repository and branch Argo CD tracks: the root Application's own source. */
function trackedRepository(tree: RenderedTree): TrackedRepository {
  const root = ofKind(tree, 'Application').find(isRootApplication);
  return { repoURL: root?.spec.source?.repoURL, revision: root?.spec.source?.targetRevision };
}

/** An argocd/ tree with the repository its root Application tracks: where the Argo CD rules start. */
export function* trackedArgocdTrees(
  trees: RenderedTree[],
): Generator<{ tree: RenderedTree; tracked: TrackedRepository }> {
  for (const tree of argocdTrees(trees)) yield { tree, tracked: trackedRepository(tree) };
}

/** Each Application and ApplicationSet template of the argocd/ trees, with `at` to flag it by. */
function* eachApplication(
  trees: RenderedTree[],
): Generator<ApplicationOwner & { tree: RenderedTree; tracked: TrackedRepository; at: string }> {
  for (const { tree, tracked } of trackedArgocdTrees(trees)) {
    for (const { owner, spec } of applicationSpecs(tree))
      yield { tree, tracked, owner, spec, at: where(tree, owner) };
  }
}

/** The revision file each environment folder holds; the env ApplicationSet's git files generator reads it. */
export const ENV_REVISION_FILES = 'gitops/envs/*/revision.yaml';
export const ENV_REVISION_PARAMETER = '{{.targetRevision}}';

/** The git generators of an ApplicationSet (none for an Application). */
export function gitGenerators(owner: IApplication | IApplicationSet) {
  return owner.kind === 'ApplicationSet' ? owner.spec.generators.flatMap((g) => (g.git ? [g.git] : [])) : [];
}

/** The env ApplicationSet as promotion wires it: one Application per revision.yaml, at the revision it names. */
export function isPromotedEnvironmentSet(owner: IApplication | IApplicationSet, revision: string): boolean {
  return (
    revision === ENV_REVISION_PARAMETER &&
    gitGenerators(owner).some((git) => (git.files ?? []).some((file) => file.path === ENV_REVISION_FILES))
  );
}

export { trackedRepository, applicationSpecs };

/** Whether a runbook_url (this repository's blob URL, or a repository path) names a file in docs/runbooks. */
export function runbookUrlResolves(root: string, url: string): boolean {
  const file = /\/blob\/[^/]+\/(docs\/runbooks\/[^"#?]+)$/.exec(url)?.[1] ?? url;
  return file.startsWith('docs/runbooks/') && existsSync(join(root, file));
}

const argocdPinnedRevisions = defineRule({
  name: 'argocd-pinned-revisions',
  summary:
    'every Application belongs to the opsforge AppProject; charts pinned to an exact version, this repository at the branch the root tracks, other git sources at a commit',
  check({ trees, flag }) {
    for (const { tree, tracked, owner, spec, at } of eachApplication(trees)) {
      const projects = new Set(ofKind(tree, 'AppProject').map((p) => p.metadata?.name));
      // The root lives in `default` because it creates the opsforge project; nothing else may.
      if (!isRootApplication(owner) && (spec.project !== 'opsforge' || !projects.has(spec.project))) {
        flag(
          at,
          `is in project "${spec.project}": put it in the opsforge AppProject (argocd/projects/opsforge.yaml)`,
        );
      }
      for (const source of sourcesOf(spec)) {
        const revision = source.targetRevision ?? '';
        if (source.chart) {
          if (!SEMVER.test(revision))
            flag(
              at,
              `chart ${source.chart} at "${revision}" is not an exact version: pin targetRevision to x.y.z`,
            );
        } else if (source.repoURL === tracked.repoURL) {
          // The env ApplicationSet renders each environment at the commit its revision.yaml pins: the rule
          // env-revisions-promoted (promotion.ts) holds that wiring.
          if (revision !== tracked.revision && !isPromotedEnvironmentSet(owner, revision))
            flag(
              at,
              `follows this repository at "${revision}" while the root Application tracks "${tracked.revision}": use the same branch`,
            );
        } else if (!COMMIT_SHA.test(revision)) {
          flag(
            at,
            `git source ${source.repoURL} at "${revision}" can move: pin targetRevision to a 40-character commit`,
          );
        }
      }
      for (const git of gitGenerators(owner)) {
        if (git.repoURL !== tracked.repoURL || git.revision !== tracked.revision) {
          flag(
            at,
            `git generator reads ${git.repoURL}@${git.revision}, not the tracked ${tracked.repoURL}@${tracked.revision}`,
          );
        }
      }
    }
  },
});

/** How many env folders a git files generator's pattern (a folder, a `*` segment, a file; or one path) finds in the checkout. */
function filesGeneratorMatches(root: string, pattern: string): number {
  const [parent, rest] = pattern.split('/*/');
  if (rest === undefined || !existsSync(join(root, parent))) return Number(existsSync(join(root, pattern)));
  return readdirSync(join(root, parent), { withFileTypes: true }).filter(
    (e) => e.isDirectory() && existsSync(join(root, parent, e.name, rest)),
  ).length;
}

/** How many directories a git directories generator's pattern (a folder then `/*`, or one path) finds in the checkout. */
function directoriesGeneratorMatches(root: string, pattern: string): number {
  const parent = join(root, pattern.replace(/\/\*$/, ''));
  if (!pattern.endsWith('/*') || !existsSync(parent)) return Number(existsSync(join(root, pattern)));
  return readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
}

const argocdSourcesExist = defineRule({
  name: 'argocd-sources-exist',
  summary: 'every path an Application or the env ApplicationSet reads from this repository exists in it',
  check({ trees, root, flag }) {
    for (const { tracked, owner, spec, at } of eachApplication(trees)) {
      const sources = sourcesOf(spec);
      const valuesReference = sources.find((s) => s.ref && s.repoURL === tracked.repoURL)?.ref;
      for (const source of sources) {
        if (source.repoURL === tracked.repoURL && source.path !== undefined && !source.path.includes('{{')) {
          const directory = join(root, source.path);
          if (!existsSync(directory) || !statSync(directory).isDirectory()) {
            flag(
              at,
              `source path "${source.path}" does not exist in this repository: Argo CD would fail to generate manifests`,
            );
          }
        }
        const prefix = `$${valuesReference}/`;
        for (const file of source.helm?.valueFiles ?? []) {
          if (
            valuesReference &&
            file.startsWith(prefix) &&
            !existsSync(join(root, file.slice(prefix.length)))
          )
            flag(at, `values file "${file}" does not exist in this repository`);
        }
      }
      for (const git of gitGenerators(owner)) {
        for (const { path } of git.files ?? []) {
          if (filesGeneratorMatches(root, path) === 0)
            flag(
              at,
              `git generator files "${path}" match nothing in this repository: no Application would be generated`,
            );
        }
        for (const { path } of git.directories ?? []) {
          if (directoriesGeneratorMatches(root, path) === 0)
            flag(
              at,
              `git generator directory "${path}" matches nothing in this repository: no Application would be generated`,
            );
        }
      }
    }
  },
});

function templatedNamespaces(namespace: string, envs: string[]): string[] {
  return namespace.includes('{{') ? envs : [namespace];
}

const appProjectScope = defineRule({
  name: 'appproject-scope',
  summary:
    "every Application's sources and destinations are allowed by its AppProject, and every env namespace is a destination",
  check({ trees, flag }) {
    const envs = envTrees(trees).map((t) => t.env as string);
    for (const { tree, spec, at } of eachApplication(trees)) {
      const project = ofKind(tree, 'AppProject').find((p) => p.metadata?.name === spec.project);
      if (!project) continue;
      const allowedRepos = project.spec.sourceRepos ?? [];
      for (const source of sourcesOf(spec)) {
        if (!allowedRepos.includes('*') && !allowedRepos.includes(source.repoURL)) {
          flag(
            at,
            `source ${source.repoURL} is not in AppProject ${spec.project} sourceRepos: add it there or fix the URL`,
          );
        }
      }
      const destinations = project.spec.destinations ?? [];
      for (const namespace of templatedNamespaces(spec.destination.namespace ?? '', envs)) {
        const allowed = destinations.some(
          (d) =>
            (d.namespace === '*' || d.namespace === namespace) &&
            (d.server === '*' || d.server === spec.destination.server),
        );
        if (!allowed)
          flag(
            at,
            `deploys to namespace "${namespace}", which AppProject ${spec.project} does not list as a destination`,
          );
      }
    }
  },
});

/** A notification trigger's conditions as argocd-notifications-cm holds them (YAML): each sends templates. */
function sentTemplates(trigger: unknown): string[] {
  if (!Array.isArray(trigger)) return [];
  return trigger.flatMap((condition: unknown) => {
    const send = (condition as { send?: unknown } | null)?.send;
    return Array.isArray(send) ? send.map(String) : [];
  });
}

/** The `notifications.argoproj.io/subscribe.<trigger>.<service>` annotations of an object, parsed. */
function subscriptions(object: ObjectIdentity): { trigger: string; service: string }[] {
  return Object.keys(object.metadata?.annotations ?? {}).flatMap((annotation) => {
    const match = /^notifications\.argoproj\.io\/subscribe\.([^.]+)\.(.+)$/.exec(annotation);
    return match ? [{ trigger: match[1], service: match[2] }] : [];
  });
}

const notificationsWired = defineRule({
  name: 'notifications-wired',
  summary:
    'Argo CD notification triggers, templates and services parse, reference each other, link existing runbooks, and every subscription names one that exists',
  check({ trees, root, flag }) {
    for (const tree of argocdTrees(trees)) {
      const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === 'argocd-notifications-cm');
      if (!configMap) continue;
      const data = configMap.data ?? {};
      const report = (message: string) => flag(where(tree, configMap), message);
      const names = (prefix: string) =>
        Object.keys(data)
          .filter((k) => k.startsWith(prefix))
          .map((k) => k.slice(prefix.length));
      const templates = new Set(names('template.'));
      const services = new Set(names('service.webhook.').concat(names('service.')));
      for (const [key, text] of Object.entries(data)) {
        let parsed: unknown;
        try {
          parsed = parseYaml(text);
        } catch (error) {
          report(`${key} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
          continue;
        }
        // Every alert has a runbook: a notification posted to Alertmanager names one that exists in docs/runbooks.
        for (const match of text.matchAll(/"runbook_url":\s*"([^"]+)"/g)) {
          if (!runbookUrlResolves(root, match[1])) {
            report(
              `${key} links runbook ${match[1]}, which is not a file in docs/runbooks/: point it at the runbook of that alert`,
            );
          }
        }
        for (const template of key.startsWith('trigger.') ? sentTemplates(parsed) : []) {
          if (!templates.has(template))
            report(`${key} sends template "${template}", which is not defined: add template.${template}`);
        }
      }
      const triggers = new Set(names('trigger.'));
      for (const subscriber of ofKind(tree, 'AppProject', 'Application')) {
        for (const { trigger, service } of subscriptions(subscriber)) {
          if (!triggers.has(trigger))
            flag(
              where(tree, subscriber),
              `subscribes to trigger "${trigger}", which argocd-notifications-cm does not define`,
            );
          if (!services.has(service))
            flag(
              where(tree, subscriber),
              `subscribes through service "${service}", which argocd-notifications-cm does not define`,
            );
        }
      }
    }
  },
});

export const argocdRules = [argocdPinnedRevisions, argocdSourcesExist, appProjectScope, notificationsWired];
