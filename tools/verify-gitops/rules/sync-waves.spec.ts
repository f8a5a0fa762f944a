// Each sync-waves rule against a copy of the rendered tree broken the way the ledger's facts say a real cluster
// would break: waves that do not wait, an env sync held open by a canary.
import { type IObjectMeta, ofKind } from '../../lib/kubernetes';
import type { RenderedTree } from '../model';
import { ARGOCD, DEV, PROD } from './tree-names';
import { brokenTrees, expectViolation, present, rendered, run, testRuleFamily } from './broken-trees';
import { SYNC_OPTIONS, SYNC_WAVE } from './ledger';
import { syncWavesRules } from './sync-waves';

/** The trees with `kind/name` of `source` annotated to sync in `wave`. */
function inSyncWave(source: string, kind: string, name: string, wave: string): RenderedTree[] {
  return brokenTrees(source, kind, name, (object: { metadata?: IObjectMeta }) => {
    object.metadata = {
      ...object.metadata,
      annotations: { ...object.metadata?.annotations, [SYNC_WAVE]: wave },
    };
  });
}

/** The trees with the generated ConfigMaps `<prefix><hash>` of `source` missing the annotation `key`. */
function generatedConfigMapsWithout(source: string, prefix: string, key: string): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = present(
    copy.find((t) => t.source === source),
    source,
  );
  const generated = ofKind(tree, 'ConfigMap').filter((c) => c.metadata?.name?.startsWith(prefix));
  if (generated.length === 0) throw new Error(`${source} renders no ConfigMap ${prefix}<hash>`);
  for (const configMap of generated)
    delete present(configMap.metadata?.annotations, `${key} on ${prefix}`)[key];
  return copy;
}

testRuleFamily(syncWavesRules, {
  'argocd-waves-wait': () => {
    const lateHealthCheck = inSyncWave(ARGOCD, 'ConfigMap', 'argocd-cm', '0');
    expectViolation(
      run('argocd-waves-wait', lateHealthCheck),
      'argocd: ConfigMap/argocd-cm',
      /is in wave 0, not before the first Application wave \(-4\)/,
    );
    const crdSameWave = inSyncWave(ARGOCD, 'Application', 'kube-prometheus-stack', '-2');
    expectViolation(
      run('argocd-waves-wait', crdSameWave),
      'argocd: Application/argo-rollouts',
      /is in wave -2 but renders monitoring\.coreos\.com\/ServiceMonitor, whose CRD an Application of wave -2 installs/,
    );
    const envsEarly = inSyncWave(ARGOCD, 'ApplicationSet', 'opsforge-envs', '-2');
    expectViolation(
      run('argocd-waves-wait', envsEarly),
      'argocd: ApplicationSet/opsforge-envs',
      /renders argoproj\.io\/Rollout, whose CRD an Application of wave -2 installs/,
    );
    const dryRun = brokenTrees(ARGOCD, 'PodMonitor', 'argocd-application-controller', (o) => {
      delete present(o.metadata?.annotations, 'PodMonitor annotations')[SYNC_OPTIONS];
    });
    expectViolation(
      run('argocd-waves-wait', dryRun),
      'argocd: PodMonitor/argocd-application-controller',
      /SkipDryRunOnMissingResource=true/,
    );
    const rootEarly = inSyncWave(ARGOCD, 'Application', 'opsforge-root', '-1');
    expectViolation(
      run('argocd-waves-wait', rootEarly),
      'argocd: Application/opsforge-root',
      /is in wave -1, not the last \(0\)/,
    );
  },
  'env-sync-never-waits-on-canary': () => {
    const pruneLast = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      present(o.spec.template.spec.syncPolicy?.syncOptions, 'env sync options').push('PruneLast=true');
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', pruneLast),
      'argocd: ApplicationSet/opsforge-envs',
      /syncs envs with PruneLast=true/,
    );
    const undeployed = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.generators = [{ list: { elements: [{ env: 'dev' }] } }];
    });
    expectViolation(
      run('env-sync-never-waits-on-canary', undeployed),
      'gitops/envs/prod',
      /no Application or ApplicationSet generator in argocd is recognised as deploying it/,
    );
    const laterWave = inSyncWave(PROD, 'Service', 'api', '1');
    expectViolation(
      run('env-sync-never-waits-on-canary', laterWave),
      'gitops/envs/prod: Rollout/api',
      /is in sync wave 0 while the env's last wave is 1/,
    );
    const pruned = generatedConfigMapsWithout(PROD, 'worker-config-', SYNC_OPTIONS);
    expectViolation(
      run('env-sync-never-waits-on-canary', pruned),
      'gitops/envs/prod: ConfigMap/worker-config-',
      /generated for Rollout worker but lacks argocd\.argoproj\.io\/sync-options: Prune=false/,
    );
    const redisConfig = generatedConfigMapsWithout(
      DEV,
      'redis-config-',
      'argocd.argoproj.io/compare-options',
    );
    expectViolation(
      run('env-sync-never-waits-on-canary', redisConfig),
      'gitops/envs/dev: ConfigMap/redis-config-',
      /generated for StatefulSet redis but lacks argocd\.argoproj\.io\/compare-options: IgnoreExtraneous/,
    );
  },
});
