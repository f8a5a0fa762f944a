// How the envs differ, and only so: replicas and requests grow dev -> staging -> prod, and prod injects no
// faults.
import { ENVIRONMENTS } from '../../lib/gitops';
import { ofKind } from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { defineRule, eachObjectOfKind, envTrees } from './define-rule';
import { eachContainer } from './visits';
import { totalRequest } from './sizing';

/** Replicas each environment runs per service (docs/gitops.md); staging sits strictly between. */
export const ENV_REPLICAS = { dev: 1, prod: 3 } as const;

const envSizing = defineRule({
  name: 'env-sizing',
  summary: `dev runs ${ENV_REPLICAS.dev} replica per service, prod ${ENV_REPLICAS.prod}, staging in between; requests grow dev -> staging -> prod`,
  check({ trees, flag }) {
    const byEnv = new Map(envTrees(trees).map((tree) => [tree.env as string, tree]));
    for (const tree of byEnv.values()) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const replicas = rollout.spec?.replicas ?? 1;
        const report = (message: string) => flag(where(tree, rollout), message);
        if (tree.env === 'dev' && replicas !== ENV_REPLICAS.dev)
          report(`dev runs ${ENV_REPLICAS.dev} replica per service, not ${replicas}`);
        if (tree.env === 'prod' && replicas !== ENV_REPLICAS.prod)
          report(`prod runs ${ENV_REPLICAS.prod} replicas per service, not ${replicas}`);
        if (tree.env === 'staging' && !(replicas > ENV_REPLICAS.dev && replicas < ENV_REPLICAS.prod)) {
          report(
            `staging runs between dev (${ENV_REPLICAS.dev}) and prod (${ENV_REPLICAS.prod}) replicas, not ${replicas}`,
          );
        }
      }
    }
    const ordered = ENVIRONMENTS.filter((env) => byEnv.has(env)).map((env) => byEnv.get(env) as RenderedTree);
    for (let index = 1; index < ordered.length; index += 1) {
      const [smaller, larger] = [ordered[index - 1], ordered[index]];
      for (const rollout of ofKind(larger, 'Rollout')) {
        const counterpart = ofKind(smaller, 'Rollout').find(
          (r) => r.metadata?.name === rollout.metadata?.name,
        );
        if (!counterpart) continue;
        for (const resource of ['cpu', 'memory']) {
          if (totalRequest(rollout, resource) < totalRequest(counterpart, resource)) {
            flag(
              where(larger, rollout),
              `requests less ${resource} than in ${smaller.env}: ${larger.env} must be sized at least as large`,
            );
          }
        }
      }
    }
  },
});

const chaosOffInProd = defineRule({
  name: 'chaos-off-in-prod',
  summary: 'fault-injection knobs (CHAOS_*) are 0 or unset in prod',
  check({ trees, flag }) {
    const prod = trees.filter((t) => t.env === 'prod');
    for (const { object: configMap, at } of eachObjectOfKind(prod, 'ConfigMap')) {
      for (const [key, value] of Object.entries(configMap.data ?? {})) {
        if (key.startsWith('CHAOS_') && Number(value) !== 0) {
          flag(at, `${key}=${String(value)} injects faults in prod: set it to 0`);
        }
      }
    }
    for (const { container, at } of eachContainer(prod)) {
      for (const variable of container.env ?? []) {
        if (
          String(variable.name).startsWith('CHAOS_') &&
          (variable.valueFrom || Number(variable.value) !== 0)
        ) {
          flag(at, `${variable.name} injects faults in prod: set it to "0" or remove it`);
        }
      }
    }
  },
});

export const environmentsRules = [envSizing, chaosOffInProd];
