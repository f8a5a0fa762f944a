// Each argocd-ui rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { ARGOCD, DEV } from './tree-names';
import { breakObject, expectViolation, run, testRuleFamily } from './broken-trees';
import { argocdUiRules, TEAM_LABEL } from './argocd-ui';

const ROLLOUTS_APP = 'argo-rollouts';

function notifications(o: K8sObject): K8sObject {
  return o.spec.source.helm.valuesObject.notifications;
}

testRuleFamily(argocdUiRules, {
  'deep-links-resolve': () => {
    const renamedDashboard = breakObject(ARGOCD, 'ConfigMap', 'argocd-cm', (o) => {
      o.data['application.links'] = o.data['application.links'].replace(
        '/d/opsforge-slo/',
        '/d/opsforge-slos/',
      );
    });
    expectViolation(
      run('deep-links-resolve', renamedDashboard),
      'argocd: ConfigMap/argocd-cm',
      /application.links: "SLOs and error budget" opens dashboard opsforge-slos, which is not in/,
    );
    const unknownVariable = breakObject(ARGOCD, 'ConfigMap', 'argocd-cm', (o) => {
      o.data['resource.links'] = o.data['resource.links'].replace('&var-hash=', '&var-revision=');
    });
    expectViolation(
      run('deep-links-resolve', unknownVariable),
      'argocd: ConfigMap/argocd-cm',
      /sets var-revision, which dashboard opsforge-canary does not define/,
    );
    const missingRunbook = breakObject(ARGOCD, 'ConfigMap', 'argocd-cm', (o) => {
      o.data['resource.links'] = o.data['resource.links'].replace('/bad-deployment.md', '/canary-failed.md');
    });
    expectViolation(
      run('deep-links-resolve', missingRunbook),
      'argocd: ConfigMap/argocd-cm',
      /opens runbook canary-failed.md, which is not a file in docs\/runbooks\//,
    );
    const unsetUrl = breakObject(ARGOCD, 'ApplicationSet', 'opsforge-envs', (o) => {
      delete o.spec.template.metadata.annotations['opsforge.io/grafana-url'];
    });
    expectViolation(
      run('deep-links-resolve', unsetUrl),
      'argocd: ConfigMap/argocd-cm',
      /reads annotation opsforge.io\/grafana-url, which the env Applications do not carry/,
    );
  },
  'rollout-notifications-wired': () => {
    const missingTemplate = breakObject(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      delete notifications(o).templates['template.rollout-aborted'];
    });
    expectViolation(
      run('rollout-notifications-wired', missingTemplate),
      'argocd: Application/argo-rollouts',
      /trigger.on-rollout-aborted sends template "rollout-aborted", which is not defined/,
    );
    const neverFired = breakObject(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      notifications(o).subscriptions[0].triggers.push('on-rollout-degraded');
    });
    expectViolation(
      run('rollout-notifications-wired', neverFired),
      'argocd: Application/argo-rollouts',
      /subscribes to on-rollout-degraded, which no Rollout event fires/,
    );
    const staleStatus = breakObject(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      notifications(o).triggers['trigger.on-rollout-paused'] =
        '- send: [rollout-paused-inconclusive]\n  when: rollout.status.pauseConditions != nil\n';
    });
    expectViolation(
      run('rollout-notifications-wired', staleStatus),
      'argocd: Application/argo-rollouts',
      /trigger.on-rollout-paused reads rollout.status, which is stale at that event/,
    );
    const unknownService = breakObject(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      notifications(o).subscriptions[0].recipients = ['slack:releases'];
    });
    expectViolation(
      run('rollout-notifications-wired', unknownService),
      'argocd: Application/argo-rollouts',
      /recipient "slack:releases", whose service is not among the notifiers/,
    );
    const missingRunbook = breakObject(ARGOCD, 'Application', ROLLOUTS_APP, (o) => {
      const templates = notifications(o).templates;
      templates['template.rollout-aborted'] = templates['template.rollout-aborted'].replace(
        'bad-deployment.md',
        'RolloutAborted.md',
      );
    });
    expectViolation(
      run('rollout-notifications-wired', missingRunbook),
      'argocd: Application/argo-rollouts',
      /template.rollout-aborted links runbook .*RolloutAborted.md, which is not a file in docs\/runbooks\//,
    );
    const noTeam = breakObject(DEV, 'Rollout', 'worker', (o) => {
      o.metadata.labels[TEAM_LABEL] = 'queue';
    });
    expectViolation(
      run('rollout-notifications-wired', noTeam),
      'gitops/envs/dev: Rollout/worker',
      /label opsforge.io\/team="queue" is not a team Alertmanager routes/,
    );
  },
});
