// Each canary-acceptance rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { IAnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate';
import { ARGOCD, DEV, PROD, STAGING } from './tree-names';
import {
  backgroundAnalysisOf,
  brokenTrees,
  expectViolation,
  firstMetricOf,
  mappingAt,
  present,
  removeObject,
  run,
  testRuleFamily,
} from './broken-trees';
import { canaryAcceptanceRules } from './canary-acceptance';

function acceptanceJob(template: IAnalysisTemplate) {
  return present(firstMetricOf(template).provider.job, 'job metric').spec;
}

function acceptanceContainer(template: IAnalysisTemplate) {
  return present(acceptanceJob(template).template.spec, 'Job pod spec').containers[0];
}

function env(template: IAnalysisTemplate, name: string) {
  const variables = present(acceptanceContainer(template).env, 'acceptance env');
  return present(
    variables.find((variable) => variable.name === name),
    `env ${name}`,
  );
}

testRuleFamily(canaryAcceptanceRules, {
  'canary-acceptance-every-canary': () => {
    const skipped = brokenTrees(PROD, 'Rollout', 'worker', (worker) => {
      const references = backgroundAnalysisOf(worker).templates ?? [];
      backgroundAnalysisOf(worker).templates = references.filter(
        (t) => t.templateName !== 'canary-acceptance',
      );
    });
    expectViolation(
      run('canary-acceptance-every-canary', skipped),
      'gitops/envs/prod: Rollout/worker',
      /runs the canary acceptance 0 times/,
    );
    const stableTarget = brokenTrees(DEV, 'Rollout', 'api', (o) => {
      const args = present(backgroundAnalysisOf(o).args, 'analysis args');
      present(
        args.find((arg) => arg.name === 'target-url'),
        'target-url arg',
      ).value = 'http://api';
    });
    expectViolation(
      run('canary-acceptance-every-canary', stableTarget),
      'gitops/envs/dev: Rollout/api',
      /ACCEPTANCE_TARGET_URL http:\/\/api must name the canary Service api-canary/,
    );
    const repeated = brokenTrees(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      Object.assign(firstMetricOf(o), { interval: '60s', count: 5, failureLimit: 2 });
      env(o, 'LOAD_DURATION_SECONDS').value = '120';
    });
    const violations = run('canary-acceptance-every-canary', repeated);
    expectViolation(violations, 'gitops/envs/staging: Rollout/api', /one Job per run/);
    expectViolation(violations, 'Rollout/api', /failureLimit must be 0/);
    expectViolation(violations, 'Rollout/api', /LOAD_DURATION_SECONDS 120 ends before the canary's 270s/);
  },
  'canary-acceptance-bounded': () => {
    const unbounded = brokenTrees(PROD, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      delete acceptanceJob(o).backoffLimit;
      acceptanceJob(o).activeDeadlineSeconds = 300;
      delete present(acceptanceContainer(o).resources, 'acceptance resources').limits;
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
    const late = brokenTrees(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      firstMetricOf(o).initialDelay = '30s';
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
    const notAdmitted = brokenTrees(PROD, 'NetworkPolicy', 'api', (o) => {
      for (const rule of o.spec?.ingress ?? [])
        rule.from = rule.from?.filter(
          (peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] !== 'canary-acceptance',
        );
    });
    expectViolation(
      run('canary-acceptance-admitted', notAdmitted),
      'gitops/envs/prod: Job/canary-acceptance.acceptance-and-load',
      /the api NetworkPolicy does not admit it/,
    );
    const wideOpen = brokenTrees(STAGING, 'NetworkPolicy', 'canary-acceptance', (o) => {
      const spec = present(o.spec, 'NetworkPolicy spec');
      spec.ingress = [{ from: [{ namespaceSelector: {} }] }];
      spec.egress = spec.egress?.filter(
        (rule) => !rule.to?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/name'],
      );
    });
    const violations = run('canary-acceptance-admitted', wideOpen);
    expectViolation(violations, 'gitops/envs/staging: Job/canary-acceptance', /admits ingress/);
    expectViolation(violations, 'Job/canary-acceptance', /allow egress to the api pods on port 3000/);
  },
  'canary-acceptance-controller-rbac': () => {
    const noClusterRole = brokenTrees(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      mappingAt(o.spec.source?.helm?.valuesObject, 'controller').createClusterRole = false;
    });
    expectViolation(
      run('canary-acceptance-controller-rbac', noClusterRole),
      'argocd: Application/argo-rollouts',
      /controller loses batch\/jobs create, get, list, watch, delete/,
    );
  },
});
