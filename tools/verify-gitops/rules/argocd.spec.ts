// Each argocd rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { ARGOCD } from './tree-names';
import { breakObject, expectViolation, run, testRuleFamily } from './broken-trees';
import { argocdRules } from './argocd';

testRuleFamily(argocdRules, {
  'argocd-pinned-revisions': () => {
    const range = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.targetRevision = '2.40.*';
    });
    expectViolation(
      run('argocd-pinned-revisions', range),
      'argocd: Application/argo-rollouts',
      /chart argo-rollouts at "2.40.\*" is not an exact version/,
    );
    const head = breakObject(ARGOCD, 'Application', 'observability', (o) => {
      o.spec.source.targetRevision = 'HEAD';
    });
    expectViolation(
      run('argocd-pinned-revisions', head),
      'argocd: Application/observability',
      /follows this repository at "HEAD" while the root Application tracks "main"/,
    );
    const otherProject = breakObject(ARGOCD, 'Application', 'alloy', (o) => {
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
    const envSetProject = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.template.spec.project = 'platform';
    });
    expectViolation(
      run('argocd-pinned-revisions', envSetProject),
      'ApplicationSet/opsforge-envs',
      /is in project "platform"/,
    );
  },
  'argocd-sources-exist': () => {
    const path = breakObject(ARGOCD, 'Application', 'observability', (o) => {
      o.spec.source.path = 'observability/prometheus/alerts';
    });
    expectViolation(
      run('argocd-sources-exist', path),
      'argocd: Application/observability',
      /source path "observability\/prometheus\/alerts" does not exist/,
    );
    const generator = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      o.spec.generators[0].git.files[0].path = 'gitops/environments/*/revision.yaml';
    });
    expectViolation(
      run('argocd-sources-exist', generator),
      'ApplicationSet/opsforge-envs',
      /files "gitops\/environments\/\*\/revision.yaml" match nothing/,
    );
    const values = breakObject(ARGOCD, 'Application', 'loki', (o) => {
      o.spec.sources = [
        {
          ...o.spec.source,
          helm: { releaseName: 'loki', valueFiles: ['$values/observability/loki/values.yaml'] },
        },
        { repoURL: 'https://github.com/opsforge/opsforge.git', targetRevision: 'main', ref: 'values' },
      ];
      delete o.spec.source;
    });
    expectViolation(
      run('argocd-sources-exist', values),
      'Application/loki',
      /values file "\$values\/observability\/loki\/values.yaml" does not exist/,
    );
  },
  'appproject-scope': () => {
    const destination = breakObject(ARGOCD, 'AppProject', 'opsforge', (o) => {
      o.spec.destinations = o.spec.destinations.filter((d: K8sObject) => d.namespace !== 'prod');
    });
    expectViolation(
      run('appproject-scope', destination),
      'argocd: ApplicationSet/opsforge-envs',
      /deploys to namespace "prod", which AppProject opsforge does not list/,
    );
    const repo = breakObject(ARGOCD, 'AppProject', 'opsforge', (o) => {
      o.spec.sourceRepos = o.spec.sourceRepos.filter((r: string) => !r.includes('grafana'));
    });
    expectViolation(
      run('appproject-scope', repo),
      'Application/loki',
      /source https:\/\/grafana.github.io\/helm-charts is not in AppProject opsforge sourceRepos/,
    );
  },
  'notifications-wired': () => {
    const badYaml = breakObject(ARGOCD, 'ConfigMap', 'argocd-notifications-cm', (o) => {
      o.data['trigger.on-health-degraded'] =
        '- description: turned Degraded (for an env: a Rollout aborted)\n  send: [app-health-degraded]\n';
    });
    expectViolation(
      run('notifications-wired', badYaml),
      'ConfigMap/argocd-notifications-cm',
      /trigger.on-health-degraded is not valid YAML/,
    );
    const missingTemplate = breakObject(ARGOCD, 'ConfigMap', 'argocd-notifications-cm', (o) => {
      delete o.data['template.app-sync-failed'];
    });
    expectViolation(
      run('notifications-wired', missingTemplate),
      'ConfigMap/argocd-notifications-cm',
      /sends template "app-sync-failed", which is not defined/,
    );
    const missingTrigger = breakObject(ARGOCD, 'ConfigMap', 'argocd-notifications-cm', (o) => {
      delete o.data['trigger.on-sync-failed'];
    });
    expectViolation(
      run('notifications-wired', missingTrigger),
      'AppProject/opsforge',
      /subscribes to trigger "on-sync-failed"/,
    );
    const missingRunbook = breakObject(ARGOCD, 'ConfigMap', 'argocd-notifications-cm', (o) => {
      o.data['template.app-sync-failed'] = o.data['template.app-sync-failed'].replace(
        'OpsforgeArgoCdAppOutOfSync.md',
        'ArgoCDSyncFailed.md',
      );
    });
    expectViolation(
      run('notifications-wired', missingRunbook),
      'ConfigMap/argocd-notifications-cm',
      /template.app-sync-failed links runbook .*ArgoCDSyncFailed.md, which is not a file in docs\/runbooks\//,
    );
  },
});
