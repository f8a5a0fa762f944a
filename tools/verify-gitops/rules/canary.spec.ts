// Each canary rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { DEV, PROD, STAGING } from './tree-names';
import { canaryRules, gatewayApiPlugin } from './canary';
import {
  backgroundAnalysisOf,
  brokenTrees,
  expectViolation,
  firstMetricOf,
  present,
  removeObject,
  run,
  stepsOf,
  testRuleFamily,
} from './broken-trees';

testRuleFamily(canaryRules, {
  'analysis-templates-resolve': () => {
    const missingTemplate = removeObject(PROD, 'AnalysisTemplate', 'http-latency-p99');
    expectViolation(
      run('analysis-templates-resolve', missingTemplate),
      'gitops/envs/prod: Rollout/api background analysis',
      /names AnalysisTemplate "http-latency-p99", which gitops\/envs\/prod does not render/,
    );
    const missingArg = brokenTrees(DEV, 'Rollout', 'worker', (rollout) => {
      const analysis = backgroundAnalysisOf(rollout);
      analysis.args = analysis.args?.filter((arg) => arg.name !== 'canary-hash');
    });
    expectViolation(
      run('analysis-templates-resolve', missingArg),
      'Rollout/worker background analysis',
      /does not pass arg "canary-hash"/,
    );
    const unknownArg = brokenTrees(DEV, 'Rollout', 'api', (o) => {
      present(backgroundAnalysisOf(o).args, 'analysis args').push({ name: 'service-name', value: 'api' });
    });
    expectViolation(
      run('analysis-templates-resolve', unknownArg),
      'Rollout/api',
      /passes arg "service-name", which none of its AnalysisTemplates declares/,
    );
    const undeclared = brokenTrees(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      o.spec.args = o.spec.args?.filter((arg) => arg.name !== 'max-error-ratio');
    });
    expectViolation(
      run('analysis-templates-resolve', undeclared),
      'AnalysisTemplate/http-error-rate',
      /uses \{\{args.max-error-ratio\}\} but declares no arg/,
    );
  },
  'pause-budget': () => {
    const short = brokenTrees(PROD, 'Rollout', 'api', (o) => {
      for (const step of stepsOf(o)) if (step.pause) step.pause.duration = '10s';
    });
    expectViolation(
      run('pause-budget', short),
      'gitops/envs/prod: Rollout/api',
      /pauses 30s in total after step 1, less than the 40s http-error-rate\/error-ratio needs/,
    );
    const firstShort = brokenTrees(PROD, 'Rollout', 'worker', (o) => {
      present(stepsOf(o)[1].pause, 'pause in step 1').duration = '30s';
    });
    expectViolation(
      run('pause-budget', firstShort),
      'Rollout/worker',
      /first pause \(30s\) ends before job-failure-ratio\/job-failure-ratio can decide \(40s\)/,
    );
    const manual = brokenTrees(DEV, 'Rollout', 'api', (o) => {
      stepsOf(o)[1].pause = {};
    });
    expectViolation(
      run('pause-budget', manual),
      'Rollout/api',
      /step 1 pauses until someone promotes by hand/,
    );
    const tooFewMeasurements = brokenTrees(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      firstMetricOf(o).count = 4;
    });
    expectViolation(
      run('pause-budget', tooFewMeasurements),
      'Rollout/api',
      /stops measuring after 50s but the canary pauses 270s/,
    );
  },
  'analysis-no-traffic-inconclusive': () => {
    const oneCondition = brokenTrees(DEV, 'AnalysisTemplate', 'job-failure-ratio', (o) => {
      delete firstMetricOf(o).failureCondition;
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', oneCondition),
      'AnalysisTemplate/job-failure-ratio metric "job-failure-ratio"',
      /needs both successCondition and failureCondition/,
    );
    const unguarded = brokenTrees(DEV, 'AnalysisTemplate', 'http-error-rate', (o) => {
      firstMetricOf(o).successCondition = 'result[0] < 0.05';
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
    const passesIdle = brokenTrees(PROD, 'AnalysisTemplate', 'http-latency-p99', (o) => {
      firstMetricOf(o).inconclusiveLimit = 28;
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', passesIdle),
      'AnalysisTemplate/http-latency-p99',
      /inconclusiveLimit 28 is not below count 28/,
    );
  },
  'analysis-queries-parse': () => {
    const trees = brokenTrees(STAGING, 'AnalysisTemplate', 'http-error-rate', (o) => {
      const prometheus = present(firstMetricOf(o).provider.prometheus, 'Prometheus metric');
      prometheus.query = prometheus.query?.replace('or vector(0)', 'or vector(0');
    });
    expectViolation(
      run('analysis-queries-parse', trees),
      'gitops/envs/staging: AnalysisTemplate/http-error-rate metric "error-ratio"',
      /query is not valid PromQL near/,
    );
  },
  'canary-series-labelled': () => {
    const noHash = brokenTrees(PROD, 'ServiceMonitor', 'api', (o) => {
      o.spec.podTargetLabels = [];
    });
    expectViolation(
      run('canary-series-labelled', noHash),
      'gitops/envs/prod: Rollout/api',
      /ServiceMonitor\/api does not carry rollouts-pod-template-hash/,
    );
    const rewrittenService = brokenTrees(PROD, 'ServiceMonitor', 'api', (o) => {
      o.spec.selector = { matchLabels: { 'app.kubernetes.io/name': 'api' } };
    });
    expectViolation(
      run('canary-series-labelled', rewrittenService),
      'Rollout/api',
      /scrapes Service api-canary, whose selector Argo Rollouts rewrites/,
    );
    const unselected = brokenTrees(DEV, 'ServiceMonitor', 'worker', (o) => {
      delete present(o.metadata?.labels, 'ServiceMonitor labels').release;
    });
    expectViolation(
      run('canary-series-labelled', unselected),
      'gitops/envs/dev: Rollout/worker',
      /lacks the labels \{"release":"kube-prometheus-stack"\}/,
    );
  },
  'traffic-router-wired': () => {
    const otherNamespace = brokenTrees(STAGING, 'Rollout', 'api', (o) => {
      present(gatewayApiPlugin(o), 'Gateway API plugin').namespace = 'dev';
    });
    expectViolation(
      run('traffic-router-wired', otherNamespace),
      'gitops/envs/staging: Rollout/api',
      /looks for HTTPRoute api in namespace "dev", not the Rollout's "staging"/,
    );
    const wrongBackend = brokenTrees(PROD, 'HTTPRoute', 'api', (o) => {
      present(present(o.spec.rules, 'HTTPRoute rules')[0].backendRefs, 'backendRefs')[1].name = 'api-preview';
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
