// Each canary-acceptance rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { ARGOCD, DEV, PROD, STAGING } from './tree-names';
import { breakObject, expectViolation, removeObject, run, testRuleFamily } from './broken-trees';
import { canaryAcceptanceRules } from './canary-acceptance';

function acceptanceJob(template: K8sObject): K8sObject {
  return template.spec.metrics[0].provider.job.spec;
}

function env(template: K8sObject, name: string): K8sObject {
  return acceptanceJob(template).template.spec.containers[0].env.find((e: K8sObject) => e.name === name);
}

testRuleFamily(canaryAcceptanceRules, {
  'canary-acceptance-every-canary': () => {
    const skipped = breakObject(PROD, 'Rollout', 'worker', (o) => {
      o.spec.strategy.canary.analysis.templates = o.spec.strategy.canary.analysis.templates.filter(
        (t: K8sObject) => t.templateName !== 'canary-acceptance',
      );
    });
    expectViolation(
      run('canary-acceptance-every-canary', skipped),
      'gitops/envs/prod: Rollout/worker',
      /runs the canary acceptance 0 times/,
    );
    const stableTarget = breakObject(DEV, 'Rollout', 'api', (o) => {
      o.spec.strategy.canary.analysis.args.find((a: K8sObject) => a.name === 'target-url').value =
        'http://api';
    });
    expectViolation(
      run('canary-acceptance-every-canary', stableTarget),
      'gitops/envs/dev: Rollout/api',
      /ACCEPTANCE_TARGET_URL http:\/\/api must name the canary Service api-canary/,
    );
    const repeated = breakObject(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      o.spec.metrics[0].interval = '60s';
      o.spec.metrics[0].count = 5;
      o.spec.metrics[0].failureLimit = 2;
      env(o, 'LOAD_DURATION_SECONDS').value = '120';
    });
    const violations = run('canary-acceptance-every-canary', repeated);
    expectViolation(violations, 'gitops/envs/staging: Rollout/api', /one Job per run/);
    expectViolation(violations, 'Rollout/api', /failureLimit must be 0/);
    expectViolation(violations, 'Rollout/api', /LOAD_DURATION_SECONDS 120 ends before the canary's 270s/);
  },
  'canary-acceptance-bounded': () => {
    const unbounded = breakObject(PROD, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      delete acceptanceJob(o).backoffLimit;
      acceptanceJob(o).activeDeadlineSeconds = 300;
      delete acceptanceJob(o).template.spec.containers[0].resources.limits;
    });
    const violations = run('canary-acceptance-bounded', unbounded);
    expectViolation(
      violations,
      'gitops/envs/prod: AnalysisTemplate/canary-acceptance',
      /backoffLimit must be 0/,
    );
    expectViolation(
      violations,
      'AnalysisTemplate/canary-acceptance',
      /activeDeadlineSeconds 300 must exceed .* \(330s\)/,
    );
    expectViolation(violations, 'AnalysisTemplate/canary-acceptance', /resources.limits.cpu/);
    const late = breakObject(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      o.spec.metrics[0].initialDelay = '30s';
      env(o, 'ACCEPTANCE_TIMEOUT_MS').value = '50000';
    });
    const lateViolations = run('canary-acceptance-bounded', late);
    expectViolation(
      lateViolations,
      'gitops/envs/staging: AnalysisTemplate/canary-acceptance',
      /initialDelay 30s delays the acceptance/,
    );
    expectViolation(
      lateViolations,
      'AnalysisTemplate/canary-acceptance',
      /ACCEPTANCE_TIMEOUT_MS 50000 leaves less than 15s/,
    );
  },
  'canary-acceptance-admitted': () => {
    const noPolicy = removeObject(DEV, 'NetworkPolicy', 'canary-acceptance');
    expectViolation(
      run('canary-acceptance-admitted', noPolicy),
      'gitops/envs/dev: Job/canary-acceptance.acceptance-and-load',
      /no NetworkPolicy with policyTypes \[Ingress, Egress\]/,
    );
    const notAdmitted = breakObject(PROD, 'NetworkPolicy', 'api', (o) => {
      for (const rule of o.spec.ingress)
        rule.from = rule.from.filter(
          (peer: K8sObject) =>
            peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] !== 'canary-acceptance',
        );
    });
    expectViolation(
      run('canary-acceptance-admitted', notAdmitted),
      'gitops/envs/prod: Job/canary-acceptance.acceptance-and-load',
      /the api NetworkPolicy does not admit it/,
    );
    const wideOpen = breakObject(STAGING, 'NetworkPolicy', 'canary-acceptance', (o) => {
      o.spec.ingress = [{ from: [{ namespaceSelector: {} }] }];
      o.spec.egress = o.spec.egress.filter(
        (rule: K8sObject) => !rule.to?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/name'],
      );
    });
    const violations = run('canary-acceptance-admitted', wideOpen);
    expectViolation(violations, 'gitops/envs/staging: Job/canary-acceptance', /admits ingress/);
    expectViolation(violations, 'Job/canary-acceptance', /allow egress to the api pods on port 3000/);
  },
  'canary-acceptance-controller-rbac': () => {
    const noClusterRole = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.helm.valuesObject.controller.createClusterRole = false;
    });
    expectViolation(
      run('canary-acceptance-controller-rbac', noClusterRole),
      'argocd: Application/argo-rollouts',
      /controller loses batch\/jobs create, get, list, watch, delete/,
    );
  },
});
