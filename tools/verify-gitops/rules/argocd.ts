// Argo CD's objects: pinned sources that exist, AppProjects that allow what their Applications deploy, and
// notifications whose triggers, templates, services and runbooks all resolve.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ARGOCD_DIRECTORY } from '../render';
import { type K8sObject, ofKind, type RenderedTree, where } from '../model';
import { argocdTrees, defineRule, envTrees } from './define-rule';

const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

function applicationSpecs(tree: RenderedTree): { owner: K8sObject; spec: K8sObject }[] {
  return [
    ...ofKind(tree, 'Application').map((app) => ({ owner: app, spec: app.spec ?? {} })),
    ...ofKind(tree, 'ApplicationSet').map((set) => ({ owner: set, spec: set.spec?.template?.spec ?? {} })),
  ];
}

export function sourcesOf(spec: K8sObject): K8sObject[] {
  return spec.sources ?? (spec.source ? [spec.source] : []);
}

/** The root Application (argocd/bootstrap): the one that syncs the argocd/ tree itself. */
function isRootApplication(object: K8sObject): boolean {
  return object.kind === 'Application' && object.spec?.source?.path === ARGOCD_DIRECTORY;
}

/** The repository and branch Argo CD tracks: the root Application's own source. */
function trackedRepository(tree: RenderedTree): { repoURL?: string; revision?: string } {
  const root = ofKind(tree, 'Application').find(isRootApplication);
  return { repoURL: root?.spec?.source?.repoURL, revision: root?.spec?.source?.targetRevision };
}

/** The revision file each environment folder holds; the env ApplicationSet's git files generator reads it. */
export const ENV_REVISION_FILES = 'gitops/envs/*/revision.yaml';
export const ENV_REVISION_PARAMETER = '{{.targetRevision}}';

/** The env ApplicationSet as promotion wires it: one Application per revision.yaml, at the revision it names. */
export function isPromotedEnvironmentSet(owner: K8sObject, revision: string): boolean {
  return (
    owner.kind === 'ApplicationSet' &&
    revision === ENV_REVISION_PARAMETER &&
    (owner.spec?.generators ?? []).some((generator: K8sObject) =>
      (generator.git?.files ?? []).some((file: K8sObject) => file.path === ENV_REVISION_FILES),
    )
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
    for (const tree of argocdTrees(trees)) {
      const tracked = trackedRepository(tree);
      const projects = new Set(ofKind(tree, 'AppProject').map((p) => p.metadata?.name));
      for (const { owner, spec } of applicationSpecs(tree)) {
        const report = (message: string) => flag(where(tree, owner), message);
        // The root lives in `default` because it creates the opsforge project; nothing else may.
        if (!isRootApplication(owner) && (spec.project !== 'opsforge' || !projects.has(spec.project))) {
          report(
            `is in project "${spec.project}": put it in the opsforge AppProject (argocd/projects/opsforge.yaml)`,
          );
        }
        for (const source of sourcesOf(spec)) {
          const revision = String(source.targetRevision ?? '');
          if (source.chart) {
            if (!SEMVER.test(revision))
              report(
                `chart ${source.chart} at "${revision}" is not an exact version: pin targetRevision to x.y.z`,
              );
          } else if (source.repoURL === tracked.repoURL) {
            // The env ApplicationSet renders each environment at the commit its revision.yaml pins: the rule
            // env-revisions-promoted (promotion.ts) holds that wiring.
            if (revision !== tracked.revision && !isPromotedEnvironmentSet(owner, revision))
              report(
                `follows this repository at "${revision}" while the root Application tracks "${tracked.revision}": use the same branch`,
              );
          } else if (!COMMIT_SHA.test(revision)) {
            report(
              `git source ${source.repoURL} at "${revision}" can move: pin targetRevision to a 40-character commit`,
            );
          }
        }
        for (const generator of owner.spec?.generators ?? []) {
          if (
            generator.git &&
            (generator.git.repoURL !== tracked.repoURL || generator.git.revision !== tracked.revision)
          ) {
            report(
              `git generator reads ${generator.git.repoURL}@${generator.git.revision}, not the tracked ${tracked.repoURL}@${tracked.revision}`,
            );
          }
        }
      }
    }
  },
});

const argocdSourcesExist = defineRule({
  name: 'argocd-sources-exist',
  summary: 'every path an Application or the env ApplicationSet reads from this repository exists in it',
  check({ trees, root, flag }) {
    for (const tree of argocdTrees(trees)) {
      const tracked = trackedRepository(tree);
      for (const { owner, spec } of applicationSpecs(tree)) {
        const report = (message: string) => flag(where(tree, owner), message);
        const sources = sourcesOf(spec);
        const valuesReference = sources.find((s) => s.ref && s.repoURL === tracked.repoURL)?.ref;
        for (const source of sources) {
          if (
            source.repoURL === tracked.repoURL &&
            source.path !== undefined &&
            !String(source.path).includes('{{')
          ) {
            const directory = join(root, source.path);
            if (!existsSync(directory) || !statSync(directory).isDirectory()) {
              report(
                `source path "${source.path}" does not exist in this repository: Argo CD would fail to generate manifests`,
              );
            }
          }
          for (const file of source.helm?.valueFiles ?? []) {
            const prefix = `$${valuesReference}/`;
            if (
              valuesReference &&
              String(file).startsWith(prefix) &&
              !existsSync(join(root, String(file).slice(prefix.length)))
            ) {
              report(`values file "${file}" does not exist in this repository`);
            }
          }
        }
        for (const generator of owner.spec?.generators ?? []) {
          for (const file of generator.git?.files ?? []) {
            const pattern = String(file.path);
            const [parent, rest] = pattern.split('/*/');
            const matches =
              rest !== undefined && existsSync(join(root, parent))
                ? readdirSync(join(root, parent), { withFileTypes: true }).filter(
                    (e) => e.isDirectory() && existsSync(join(root, parent, e.name, rest)),
                  ).length
                : Number(existsSync(join(root, pattern)));
            if (matches === 0)
              report(
                `git generator files "${pattern}" match nothing in this repository: no Application would be generated`,
              );
          }
          for (const directory of generator.git?.directories ?? []) {
            const pattern = String(directory.path);
            const parent = join(root, pattern.replace(/\/\*$/, ''));
            const matches =
              pattern.endsWith('/*') && existsSync(parent)
                ? readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).length
                : Number(existsSync(join(root, pattern)));
            if (matches === 0)
              report(
                `git generator directory "${pattern}" matches nothing in this repository: no Application would be generated`,
              );
          }
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
    for (const tree of argocdTrees(trees)) {
      for (const { owner, spec } of applicationSpecs(tree)) {
        const project = ofKind(tree, 'AppProject').find((p) => p.metadata?.name === spec.project);
        if (!project) continue;
        const report = (message: string) => flag(where(tree, owner), message);
        const allowedRepos: string[] = project.spec?.sourceRepos ?? [];
        for (const source of sourcesOf(spec)) {
          if (!allowedRepos.includes('*') && !allowedRepos.includes(source.repoURL)) {
            report(
              `source ${source.repoURL} is not in AppProject ${spec.project} sourceRepos: add it there or fix the URL`,
            );
          }
        }
        const destinations: K8sObject[] = project.spec?.destinations ?? [];
        for (const namespace of templatedNamespaces(String(spec.destination?.namespace ?? ''), envs)) {
          const allowed = destinations.some(
            (d) =>
              (d.namespace === '*' || d.namespace === namespace) &&
              (d.server === '*' || d.server === spec.destination?.server),
          );
          if (!allowed)
            report(
              `deploys to namespace "${namespace}", which AppProject ${spec.project} does not list as a destination`,
            );
        }
      }
    }
  },
});

const notificationsWired = defineRule({
  name: 'notifications-wired',
  summary:
    'Argo CD notification triggers, templates and services parse, reference each other, link existing runbooks, and every subscription names one that exists',
  check({ trees, root, flag }) {
    for (const tree of argocdTrees(trees)) {
      const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === 'argocd-notifications-cm');
      if (!configMap) continue;
      const data: Record<string, string> = configMap.data ?? {};
      const report = (message: string) => flag(where(tree, configMap), message);
      const names = (prefix: string) =>
        Object.keys(data)
          .filter((k) => k.startsWith(prefix))
          .map((k) => k.slice(prefix.length));
      const templates = new Set(names('template.'));
      const services = new Set(names('service.webhook.').concat(names('service.')));
      for (const key of Object.keys(data)) {
        let parsed: unknown;
        try {
          parsed = parseYaml(data[key]);
        } catch (error) {
          report(`${key} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
          continue;
        }
        // Every alert has a runbook: a notification posted to Alertmanager names one that exists in docs/runbooks.
        for (const match of data[key].matchAll(/"runbook_url":\s*"([^"]+)"/g)) {
          if (!runbookUrlResolves(root, match[1])) {
            report(
              `${key} links runbook ${match[1]}, which is not a file in docs/runbooks/: point it at the runbook of that alert`,
            );
          }
        }
        if (key.startsWith('trigger.')) {
          for (const condition of Array.isArray(parsed) ? (parsed as K8sObject[]) : []) {
            for (const template of condition.send ?? []) {
              if (!templates.has(template))
                report(`${key} sends template "${template}", which is not defined: add template.${template}`);
            }
          }
        }
      }
      const triggers = new Set(names('trigger.'));
      for (const subscriber of [...ofKind(tree, 'AppProject'), ...ofKind(tree, 'Application')]) {
        for (const annotation of Object.keys(subscriber.metadata?.annotations ?? {})) {
          const match = /^notifications\.argoproj\.io\/subscribe\.([^.]+)\.(.+)$/.exec(annotation);
          if (!match) continue;
          if (!triggers.has(match[1]))
            flag(
              where(tree, subscriber),
              `subscribes to trigger "${match[1]}", which argocd-notifications-cm does not define`,
            );
          if (!services.has(match[2]))
            flag(
              where(tree, subscriber),
              `subscribes through service "${match[2]}", which argocd-notifications-cm does not define`,
            );
        }
      }
    }
  },
});

export const argocdRules = [argocdPinnedRevisions, argocdSourcesExist, appProjectScope, notificationsWired];
