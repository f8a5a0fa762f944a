// Each argocd rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { ARGOCD } from './tree-names';
import {
  brokenTrees,
  expectViolation,
  present,
  run,
  sourceOf,
  testRuleFamily,
  withConfigMapEntry,
  withSourceRevision,
} from './broken-trees';
import { argocdRules } from './argocd';

const NOTIFICATIONS = 'argocd-notifications-cm';

testRuleFamily(argocdRules, {
  'argocd-pinned-revisions': () => {
    const range = withSourceRevision('argo-rollouts', '2.40.*');
    expectViolation(
      run('argocd-pinned-revisions', range),
      'argocd: Application/argo-rollouts',
      /chart argo-rollouts at "2.40.\*" is not an exact version/,
    );
    const head = withSourceRevision('observability', 'HEAD');
    expectViolation(
      run('argocd-pinned-revisions', head),
      'argocd: Application/observability',
      /follows this repository at "HEAD" while the root Application tracks "main"/,
    );
    const otherProject = brokenTrees(ARGOCD, 'Application', 'alloy', (o) => {
      o.spec.project = 'default';
      o.spec.source = { repoURL: 'https://example.org/other.git', targetRevision: 'main', path: '.' };
      delete o.spec.sources;
    });
    const violations = run('argocd-pinned-revisions', otherProject);
    expectViolation(
      violations,
      'argocd: Application/alloy',
      /is in project "default": put it in the opsforge AppProject/,
    );
    expectViolation(
      violations,
      'argocd: Application/alloy',
      /git source https:\/\/example.org\/other.git at "main" can move/,
    );
    const envSetProject = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.project = 'platform';
    });
    expectViolation(
      run('argocd-pinned-revisions', envSetProject),
      'ApplicationSet/opsforge-envs',
      /is in project "platform"/,
    );
  },
  'argocd-sources-exist': () => {
    const path = brokenTrees(ARGOCD, 'Application', 'observability', (app) => {
      sourceOf(app).path = 'observability/prometheus/alerts';
    });
    expectViolation(
      run('argocd-sources-exist', path),
      'argocd: Application/observability',
      /source path "observability\/prometheus\/alerts" does not exist/,
    );
    const generator = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      present(o.spec.generators[0].git?.files, 'git files generator')[0].path =
        'gitops/environments/*/revision.yaml';
    });
    expectViolation(
      run('argocd-sources-exist', generator),
      'ApplicationSet/opsforge-envs',
      /files "gitops\/environments\/\*\/revision.yaml" match nothing/,
    );
    const values = brokenTrees(ARGOCD, 'Application', 'loki', (o) => {
      // The chart source reads its values file from the `values` source (this repository).
      const [chart] = present(o.spec.sources, 'Application sources');
      chart.helm = { releaseName: 'loki', valueFiles: ['$values/observability/loki/values.yaml'] };
    });
    expectViolation(
      run('argocd-sources-exist', values),
      'Application/loki',
      /values file "\$values\/observability\/loki\/values.yaml" does not exist/,
    );
  },
  'appproject-scope': () => {
    const destination = brokenTrees(ARGOCD, 'AppProject', 'opsforge', (o) => {
      o.spec.destinations = o.spec.destinations?.filter((d) => d.namespace !== 'prod');
    });
    expectViolation(
      run('appproject-scope', destination),
      'argocd: ApplicationSet/opsforge-envs',
      /deploys to namespace "prod", which AppProject opsforge does not list/,
    );
    const repo = brokenTrees(ARGOCD, 'AppProject', 'opsforge', (o) => {
      o.spec.sourceRepos = o.spec.sourceRepos?.filter((r) => !r.includes('grafana'));
    });
    expectViolation(
      run('appproject-scope', repo),
      'Application/loki',
      /source https:\/\/grafana.github.io\/helm-charts is not in AppProject opsforge sourceRepos/,
    );
  },
  'notifications-wired': () => {
    const badYaml = withConfigMapEntry(
      ARGOCD,
      NOTIFICATIONS,
      'trigger.on-health-degraded',
      () => '- description: turned Degraded (for an env: a Rollout aborted)\n  send: [app-health-degraded]\n',
    );
    expectViolation(
      run('notifications-wired', badYaml),
      'ConfigMap/argocd-notifications-cm',
      /trigger.on-health-degraded is not valid YAML/,
    );
    const missingTemplate = withConfigMapEntry(
      ARGOCD,
      NOTIFICATIONS,
      'template.app-sync-failed',
      () => undefined,
    );
    expectViolation(
      run('notifications-wired', missingTemplate),
      'ConfigMap/argocd-notifications-cm',
      /sends template "app-sync-failed", which is not defined/,
    );
    const missingTrigger = withConfigMapEntry(
      ARGOCD,
      NOTIFICATIONS,
      'trigger.on-sync-failed',
      () => undefined,
    );
    expectViolation(
      run('notifications-wired', missingTrigger),
      'AppProject/opsforge',
      /subscribes to trigger "on-sync-failed"/,
    );
    const missingRunbook = withConfigMapEntry(ARGOCD, NOTIFICATIONS, 'template.app-sync-failed', (text) =>
      text.replace('OpsforgeArgoCdAppOutOfSync.md', 'ArgoCDSyncFailed.md'),
    );
    expectViolation(
      run('notifications-wired', missingRunbook),
      'ConfigMap/argocd-notifications-cm',
      /template.app-sync-failed links runbook .*ArgoCDSyncFailed.md, which is not a file in docs\/runbooks\//,
    );
  },
});
