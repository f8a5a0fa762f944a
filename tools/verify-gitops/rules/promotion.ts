// Promotion: what reaches staging and prod, and how. Every environment renders its folder at the commit its
// gitops/envs/<env>/revision.yaml names on main (dev: main itself; staging and prod: a commit only a
// promotion pull request changes), so the base, rollouts/, an overlay and the images travel together. The
// history behind each pinned commit is `npm run promote -- --verify`'s to check (ci.yml, every trigger).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COMMIT_PATTERN,
  MAIN_BRANCH,
  previousEnvironment,
  revisionPath,
  targetRevisionIn,
  isEnvironment,
} from '../../lib/gitops';
import { ofKind } from '../../lib/kubernetes';
import { where } from '../model';
import { ENVS_DIRECTORY } from '../render';
import {
  ENV_REVISION_FILES,
  ENV_REVISION_PARAMETER,
  gitGenerators,
  sourcesOf,
  trackedArgocdTrees,
} from './argocd';
import { defineRule, envTrees } from './define-rule';

const envRevisionsPromoted = defineRule({
  name: 'env-revisions-promoted',
  summary:
    'the env ApplicationSet renders each gitops/envs folder at the revision its revision.yaml names (git files generator on the tracked branch); dev follows main, every other environment is pinned to a commit',
  check({ trees, root, flag }) {
    for (const { tree, tracked } of trackedArgocdTrees(trees)) {
      const envSets = ofKind(tree, 'ApplicationSet').filter((set) =>
        gitGenerators(set).some((git) =>
          [...(git.files ?? []), ...(git.directories ?? [])].some((entry) =>
            entry.path.startsWith(`${ENVS_DIRECTORY}/`),
          ),
        ),
      );
      if (envSets.length === 0)
        flag(`${tree.source}`, `no ApplicationSet generates the environments of ${ENVS_DIRECTORY}`);
      for (const set of envSets) {
        const report = (message: string) => flag(where(tree, set), message);
        for (const git of gitGenerators(set)) {
          if (
            (git.directories ?? []).length > 0 ||
            (git.files ?? []).some((file) => file.path !== ENV_REVISION_FILES)
          )
            report(
              `generates environments from ${JSON.stringify(git.directories ?? git.files)}, not from each folder's revision file (files: [{ path: ${ENV_REVISION_FILES} }]): nothing would say which commit an environment runs`,
            );
        }
        for (const source of sourcesOf(set.spec.template.spec)) {
          if (source.repoURL !== tracked.repoURL) continue;
          if (source.targetRevision !== ENV_REVISION_PARAMETER)
            report(
              `renders every environment at "${source.targetRevision}", so a change to gitops/base or rollouts/ reaches prod on merge: use targetRevision: '${ENV_REVISION_PARAMETER}' (the revision file's)`,
            );
          if (source.path !== '{{.path.path}}')
            report(`renders "${source.path}", not the folder of the revision file ('{{.path.path}}')`);
        }
      }
    }
    for (const tree of envTrees(trees)) {
      const env = tree.env ?? tree.source.split('/').pop()!;
      const path = join(root, ENVS_DIRECTORY, env, 'revision.yaml');
      if (!existsSync(path)) {
        flag(tree.source, `has no revision.yaml: the env ApplicationSet generates no Application for it`);
        continue;
      }
      const revision = targetRevisionIn(readFileSync(path, 'utf8'));
      const follows = !isEnvironment(env) || previousEnvironment(env) === undefined;
      if (follows && revision !== MAIN_BRANCH)
        flag(
          tree.source,
          `${revisionPath(env as 'dev')} says "${revision}": the first environment follows ${MAIN_BRANCH}`,
        );
      if (!follows && !(revision !== undefined && COMMIT_PATTERN.test(revision)))
        flag(
          tree.source,
          `${revisionPath(env as 'dev')} says "${revision}": ${env} runs a commit a promotion pinned (npm run promote), never a branch`,
        );
    }
  },
});

export const promotionRules = [envRevisionsPromoted];
