// Each canary rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { DEV, PROD, STAGING } from './tree-names';
import { breakObject, expectViolation, removeObject, run, testRuleFamily } from './broken-trees';
import { canaryRules } from './canary';

testRuleFamily(canaryRules, {
  'analysis-templates-resolve': () => {
    const missingTemplate = removeObject(PROD, 'AnalysisTemplate', 'http-latency-p99');
    expectViolation(
      run('analysis-templates-resolve', missingTemplate),
      'gitops/envs/prod: Rollout/api background analysis',
      /names AnalysisTemplate "http-latency-p99", which gitops\/envs\/prod does not render/,
    );
    const missingArg = breakObject(DEV, 'Rollout', 'worker', (o) => {
      o.spec.strategy.canary.analysis.args = o.spec.strategy.canary.analysis.args.filter(
        (a: K8sObject) => a.name !== 'canary-hash',
      );
    });
    expectViolation(
      run('analysis-templates-resolve', missingArg),
      'Rollout/worker background analysis',
      /does not pass arg "canary-hash"/,
    );
    const unknownArg = breakObject(DEV, 'Rollout', 'api', (o) => {
      o.spec.strategy.canary.analysis.args.push({ name: 'service-name', value: 'api' });
    });
    expectViolation(
      run('analysis-templates-resolve', unknownArg),
      'Rollout/api',
      /passes arg "service-name", which none of its AnalysisTemplates declares/,
    );
    const undeclared = breakObject(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      o.spec.args = o.spec.args.filter((a: K8sObject) => a.name !== 'max-error-ratio');
    });
    expectViolation(
      run('analysis-templates-resolve', undeclared),
      'AnalysisTemplate/http-error-rate',
      /uses \{\{args.max-error-ratio\}\} but declares no arg/,
    );
  },
  'pause-budget': () => {
    const short = breakObject(PROD, 'Rollout', 'api', (o) => {
      for (const step of o.spec.strategy.canary.steps) if (step.pause) step.pause.duration = '10s';
    });
    expectViolation(
      run('pause-budget', short),
      'gitops/envs/prod: Rollout/api',
      /pauses 30s in total after step 1, less than the 40s http-error-rate\/error-ratio needs/,
    );
    const firstShort = breakObject(PROD, 'Rollout', 'worker', (o) => {
      o.spec.strategy.canary.steps[1].pause.duration = '30s';
    });
    expectViolation(
      run('pause-budget', firstShort),
      'Rollout/worker',
      /first pause \(30s\) ends before job-failure-ratio\/job-failure-ratio can decide \(40s\)/,
    );
    const manual = breakObject(DEV, 'Rollout', 'api', (o) => {
      o.spec.strategy.canary.steps[1].pause = {};
    });
    expectViolation(
      run('pause-budget', manual),
      'Rollout/api',
      /step 1 pauses until someone promotes by hand/,
    );
    const tooFewMeasurements = breakObject(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      o.spec.metrics[0].count = 4;
    });
    expectViolation(
      run('pause-budget', tooFewMeasurements),
      'Rollout/api',
      /stops measuring after 50s but the canary pauses 270s/,
    );
  },
  'analysis-no-traffic-inconclusive': () => {
    const oneCondition = breakObject(DEV, 'AnalysisTemplate', 'job-failure-ratio', (o) => {
      delete o.spec.metrics[0].failureCondition;
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', oneCondition),
      'AnalysisTemplate/job-failure-ratio metric "job-failure-ratio"',
      /needs both successCondition and failureCondition/,
    );
    const unguarded = breakObject(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      o.spec.metrics[0].successCondition = 'result[0] < 0.05';
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', unguarded),
      'AnalysisTemplate/http-error-rate',
      /without checking len\(result\)/,
    );
    expectViolation(
      run('analysis-no-traffic-inconclusive', unguarded),
      'AnalysisTemplate/http-error-rate',
      /does not guard isNaN/,
    );
    const passesIdle = breakObject(PROD, 'AnalysisTemplate', 'http-latency-p99', (o) => {
      o.spec.metrics[0].inconclusiveLimit = 28;
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', passesIdle),
      'AnalysisTemplate/http-latency-p99',
      /inconclusiveLimit 28 is not below count 28/,
    );
  },
  'analysis-queries-parse': () => {
    const trees = breakObject(STAGING, 'AnalysisTemplate', 'http-error-rate', (o) => {
      o.spec.metrics[0].provider.prometheus.query = o.spec.metrics[0].provider.prometheus.query.replace(
        'or vector(0)',
        'or vector(0',
      );
    });
    expectViolation(
      run('analysis-queries-parse', trees),
      'gitops/envs/staging: AnalysisTemplate/http-error-rate metric "error-ratio"',
      /query is not valid PromQL near/,
    );
  },
  'canary-series-labelled': () => {
    const noHash = breakObject(PROD, 'ServiceMonitor', 'api', (o) => {
      o.spec.podTargetLabels = [];
    });
    expectViolation(
      run('canary-series-labelled', noHash),
      'gitops/envs/prod: Rollout/api',
      /ServiceMonitor\/api does not carry rollouts-pod-template-hash/,
    );
    const rewrittenService = breakObject(PROD, 'ServiceMonitor', 'api', (o) => {
      o.spec.selector = { matchLabels: { 'app.kubernetes.io/name': 'api' } };
    });
    expectViolation(
      run('canary-series-labelled', rewrittenService),
      'Rollout/api',
      /scrapes Service api-canary, whose selector Argo Rollouts rewrites/,
    );
    const unselected = breakObject(DEV, 'ServiceMonitor', 'worker', (o) => {
      delete o.metadata.labels.release;
    });
    expectViolation(
      run('canary-series-labelled', unselected),
      'gitops/envs/dev: Rollout/worker',
      /lacks the labels \{"release":"kube-prometheus-stack"\}/,
    );
  },
  'traffic-router-wired': () => {
    const otherNamespace = breakObject(STAGING, 'Rollout', 'api', (o) => {
      o.spec.strategy.canary.trafficRouting.plugins['argoproj-labs/gatewayAPI'].namespace = 'dev';
    });
    expectViolation(
      run('traffic-router-wired', otherNamespace),
      'gitops/envs/staging: Rollout/api',
      /looks for HTTPRoute api in namespace "dev", not the Rollout's "staging"/,
    );
    const wrongBackend = breakObject(PROD, 'HTTPRoute', 'api', (o) => {
      o.spec.rules[0].backendRefs[1].name = 'api-preview';
    });
    expectViolation(
      run('traffic-router-wired', wrongBackend),
      'gitops/envs/prod: Rollout/api',
      /HTTPRoute api has no backendRef to its canaryService "api-canary"/,
    );
    expectViolation(
      run('traffic-router-wired', removeObject(DEV, 'HTTPRoute', 'api')),
      'gitops/envs/dev: Rollout/api',
      /routes HTTPRoute "api", which gitops\/envs\/dev does not render/,
    );
  },
});
