// Each argocd-ui rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import { isMapping } from '../../lib/kubernetes';
import { ARGOCD, DEV } from './tree-names';
import {
  brokenTrees,
  expectViolation,
  listAt,
  mappingAt,
  present,
  run,
  testRuleFamily,
  withConfigMapEntry,
} from './broken-trees';
import { argocdUiRules, TEAM_LABEL } from './argocd-ui';

const ROLLOUTS_APP = 'argo-rollouts';

/** The argo-rollouts chart's notification values, to change in place: templates, triggers, subscriptions. */
function notifications(app: IApplication, part: string): Record<string, unknown> {
  return mappingAt(app.spec.source?.helm?.valuesObject, `notifications.${part}`);
}

/** The first subscription of the argo-rollouts chart's notification values. */
function firstSubscription(app: IApplication): Record<string, unknown> {
  const first: unknown = listAt(app.spec.source?.helm?.valuesObject, 'notifications.subscriptions')[0];
  return present(isMapping(first) ? first : undefined, 'notification subscription');
}

testRuleFamily(argocdUiRules, {
  'deep-links-resolve': () => {
    const renamedDashboard = withConfigMapEntry(ARGOCD, 'argocd-cm', 'application.links', (links) =>
      links.replace('/d/opsforge-slo/', '/d/opsforge-slos/'),
    );
    expectViolation(
      run('deep-links-resolve', renamedDashboard),
      'argocd: ConfigMap/argocd-cm',
      /application.links: "SLOs and error budget" opens dashboard opsforge-slos, which is not in/,
    );
    const unknownVariable = withConfigMapEntry(ARGOCD, 'argocd-cm', 'resource.links', (links) =>
      links.replace('&var-hash=', '&var-revision='),
    );
    expectViolation(
      run('deep-links-resolve', unknownVariable),
      'argocd: ConfigMap/argocd-cm',
      /sets var-revision, which dashboard opsforge-canary does not define/,
    );
    const missingRunbook = withConfigMapEntry(ARGOCD, 'argocd-cm', 'resource.links', (links) =>
      links.replace('/bad-deployment.md', '/canary-failed.md'),
    );
    expectViolation(
      run('deep-links-resolve', missingRunbook),
      'argocd: ConfigMap/argocd-cm',
      /opens runbook canary-failed.md, which is not a file in docs\/runbooks\//,
    );
    const unsetUrl = brokenTrees(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      delete present(o.spec.template.metadata.annotations, 'env Application annotations')[
        'opsforge.io/grafana-url'
      ];
    });
    expectViolation(
      run('deep-links-resolve', unsetUrl),
      'argocd: ConfigMap/argocd-cm',
      /reads annotation opsforge.io\/grafana-url, which the env Applications do not carry/,
    );
  },
  'rollout-notifications-wired': () => {
    const missingTemplate = brokenTrees(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      delete notifications(o, 'templates')['template.rollout-aborted'];
    });
    expectViolation(
      run('rollout-notifications-wired', missingTemplate),
      'argocd: Application/argo-rollouts',
      /trigger.on-rollout-aborted sends template "rollout-aborted", which is not defined/,
    );
    const neverFired = brokenTrees(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      listAt(firstSubscription(o), 'triggers').push('on-rollout-degraded');
    });
    expectViolation(
      run('rollout-notifications-wired', neverFired),
      'argocd: Application/argo-rollouts',
      /subscribes to on-rollout-degraded, which no Rollout event fires/,
    );
    const staleStatus = brokenTrees(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      notifications(o, 'triggers')['trigger.on-rollout-paused'] =
        '- send: [rollout-paused-inconclusive]\n  when: rollout.status.pauseConditions != nil\n';
    });
    expectViolation(
      run('rollout-notifications-wired', staleStatus),
      'argocd: Application/argo-rollouts',
      /trigger.on-rollout-paused reads rollout.status, which is stale at that event/,
    );
    const unknownService = brokenTrees(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      firstSubscription(o).recipients = ['slack:releases'];
    });
    expectViolation(
      run('rollout-notifications-wired', unknownService),
      'argocd: Application/argo-rollouts',
      /recipient "slack:releases", whose service is not among the notifiers/,
    );
    const missingRunbook = brokenTrees(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      const templates = notifications(o, 'templates');
      templates['template.rollout-aborted'] = String(templates['template.rollout-aborted']).replace(
        'bad-deployment.md',
        'RolloutAborted.md',
      );
    });
    expectViolation(
      run('rollout-notifications-wired', missingRunbook),
      'argocd: Application/argo-rollouts',
      /template.rollout-aborted links runbook .*RolloutAborted.md, which is not a file in docs\/runbooks\//,
    );
    const noTeam = brokenTrees(DEV, 'Rollout', 'worker', (o) => {
      present(o.metadata?.labels, 'Rollout labels')[TEAM_LABEL] = 'queue';
    });
    expectViolation(
      run('rollout-notifications-wired', noTeam),
      'gitops/envs/dev: Rollout/worker',
      /label opsforge.io\/team="queue" is not a team Alertmanager routes/,
    );
  },
});
