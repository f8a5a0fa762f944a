// Each sync-waves rule against a copy of the rendered tree broken the way the ledger's facts say a real cluster
// would break: waves that do not wait, an env sync held open by a canary.
import type { K8sObject, RenderedTree } from '../model';
import { ARGOCD, DEV, PROD } from './tree-names';
import { breakObject, expectViolation, rendered, run, testRuleFamily } from './broken-trees';
import { syncWavesRules } from './sync-waves';

/** A copy of the rendered trees with every object of `source` matching `select` changed. */
function breakWhere(
  source: string,
  select: (object: K8sObject) => boolean,
  mutate: (object: K8sObject) => void,
): RenderedTree[] {
  const copy = structuredClone(rendered);
  const matches = (copy.find((t) => t.source === source)?.objects ?? []).filter(select);
  if (matches.length === 0) throw new Error(`${source} renders nothing to break`);
  matches.forEach(mutate);
  return copy;
}

function annotate(object: K8sObject, key: string, value: string): void {
  object.metadata.annotations = { ...object.metadata.annotations, [key]: value };
}

testRuleFamily(syncWavesRules, {
  'argocd-waves-wait': () => {
    const lateHealthCheck = breakObject(ARGOCD, 'ConfigMap', 'argocd-cm', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '0');
    });
    expectViolation(
      run('argocd-waves-wait', lateHealthCheck),
      'argocd: ConfigMap/argocd-cm',
      /is in wave 0, not before the first Application wave \(-4\)/,
    );
    const crdSameWave = breakObject(ARGOCD, 'Application', 'kube-prometheus-stack', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-2');
    });
    expectViolation(
      run('argocd-waves-wait', crdSameWave),
      'argocd: Application/argo-rollouts',
      /is in wave -2 but renders monitoring\.coreos\.com\/ServiceMonitor, whose CRD an Application of wave -2 installs/,
    );
    const envsEarly = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-2');
    });
    expectViolation(
      run('argocd-waves-wait', envsEarly),
      'argocd: ApplicationSet/opsforge-envs',
      /renders argoproj\.io\/Rollout, whose CRD an Application of wave -2 installs/,
    );
    const dryRun = breakObject(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      delete o.metadata.annotations['argocd.argoproj.io/sync-options'];
    });
    expectViolation(
      run('argocd-waves-wait', dryRun),
      'argocd: PodMonitor/argocd-application-controller',
      /SkipDryRunOnMissingResource=true/,
    );
    const rootEarly = breakObject(ARGOCD, 'Application', 'opsforge-root', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '-1');
    });
    expectViolation(
      run('argocd-waves-wait', rootEarly),
      'argocd: Application/opsforge-root',
      /is in wave -1, not the last \(0\)/,
    );
  },
  'env-sync-never-waits-on-canary': () => {
    const pruneLast = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.syncPolicy.syncOptions.push('PruneLast=true');
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', pruneLast),
      'argocd: ApplicationSet/opsforge-envs',
      /syncs envs with PruneLast=true/,
    );
    const undeployed = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.generators = [{ list: { elements: [{ env: 'dev' }] } }];
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', undeployed),
      'gitops/envs/prod',
      /no Application or ApplicationSet generator in argocd is recognised as deploying it/,
    );
    const laterWave = breakObject(PROD, 'Service', 'api', (o) => {
      annotate(o, 'argocd.argoproj.io/sync-wave', '1');
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', laterWave),
      'gitops/envs/prod: Rollout/api',
      /is in sync wave 0 while the env's last wave is 1/,
    );
    const pruned = breakWhere(
      PROD,
      (o) => o.kind === 'ConfigMap' && String(o.metadata?.name).startsWith('worker-config-'),
      (o) => {
        delete o.metadata.annotations['argocd.argoproj.io/sync-options'];
      },
    );
    expectViolation(
      run('env-sync-never-waits-on-canary', pruned),
      'gitops/envs/prod: ConfigMap/worker-config-',
      /generated for Rollout worker but lacks argocd\.argoproj\.io\/sync-options: Prune=false/,
    );
    const redisConfig = breakWhere(
      DEV,
      (o) => o.kind === 'ConfigMap' && String(o.metadata?.name).startsWith('redis-config-'),
      (o) => {
        delete o.metadata.annotations['argocd.argoproj.io/compare-options'];
      },
    );
    expectViolation(
      run('env-sync-never-waits-on-canary', redisConfig),
      'gitops/envs/dev: ConfigMap/redis-config-',
      /generated for StatefulSet redis but lacks argocd\.argoproj\.io\/compare-options: IgnoreExtraneous/,
    );
  },
});
