// Each pod-hardening rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { podSpec } from '../../lib/kubernetes';
import { DEV, PROD, STAGING } from './tree-names';
import {
  brokenTrees,
  containerNamed,
  expectViolation,
  firstMetricOf,
  present,
  removeObject,
  run,
  testRuleFamily,
  withEnv,
} from './broken-trees';
import { podHardeningRules } from './pod-hardening';

testRuleFamily(podHardeningRules, {
  'pod-security-restricted': () => {
    const trees = brokenTrees(PROD, 'Rollout', 'api', (o) => {
      const context = present(containerNamed(o, 'api').securityContext, 'api securityContext');
      context.allowPrivilegeEscalation = true;
      delete context.readOnlyRootFilesystem;
      present(context.capabilities, 'api capabilities').drop = [];
    });
    const violations = run('pod-security-restricted', trees);
    expectViolation(
      violations,
      'gitops/envs/prod: Rollout/api container "api"',
      /allowPrivilegeEscalation: false/,
    );
    expectViolation(violations, 'Rollout/api container "api"', /readOnlyRootFilesystem: true/);
    expectViolation(violations, 'Rollout/api container "api"', /drop: \[ALL\]/);
    const privilegedAcceptance = brokenTrees(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      const job = present(firstMetricOf(o).provider.job, 'acceptance job metric').spec.template.spec;
      delete present(job?.securityContext, 'acceptance pod securityContext').seccompProfile;
      delete present(job?.containers[0], 'acceptance container').securityContext;
    });
    expectViolation(
      run('pod-security-restricted', privilegedAcceptance),
      'gitops/envs/staging: Job/canary-acceptance.acceptance-and-load container "acceptance"',
      /allowPrivilegeEscalation: false/,
    );
    const rootPod = brokenTrees(DEV, 'StatefulSet', 'redis', (o) => {
      const podContext = present(podSpec(o).securityContext, 'redis pod securityContext');
      const context = present(containerNamed(o, 'redis').securityContext, 'redis securityContext');
      podContext.runAsNonRoot = false;
      delete context.runAsNonRoot;
      delete podContext.seccompProfile;
      delete context.seccompProfile;
    });
    expectViolation(
      run('pod-security-restricted', rootPod),
      'StatefulSet/redis container "redis"',
      /runAsNonRoot: true/,
    );
    expectViolation(
      run('pod-security-restricted', rootPod),
      'StatefulSet/redis container "redis"',
      /seccompProfile.type: RuntimeDefault/,
    );
  },
  'workload-has-networkpolicy': () => {
    expectViolation(
      run('workload-has-networkpolicy', removeObject(STAGING, 'NetworkPolicy', 'redis')),
      'gitops/envs/staging: StatefulSet/redis',
      /no NetworkPolicy/,
    );
  },
  'node-writable-tmp': () => {
    const noTmp = brokenTrees(PROD, 'Rollout', 'api', (o) => {
      containerNamed(o, 'api').volumeMounts = [];
    });
    expectViolation(
      run('node-writable-tmp', noTmp),
      'gitops/envs/prod: Rollout/api container "api"',
      /read-only root filesystem but no writable emptyDir at \/tmp/,
    );
    const readOnlyTmp = brokenTrees(DEV, 'Rollout', 'worker', (o) => {
      present(containerNamed(o, 'worker').volumeMounts?.[0], 'worker volumeMount').readOnly = true;
    });
    expectViolation(
      run('node-writable-tmp', readOnlyTmp),
      'Rollout/worker container "worker"',
      /no writable emptyDir at \/tmp/,
    );
    const unbounded = brokenTrees(STAGING, 'Rollout', 'worker', (o) => {
      const tmp = podSpec(o).volumes?.find((v) => v.name === 'tmp');
      delete present(tmp?.emptyDir, 'worker tmp emptyDir').sizeLimit;
    });
    expectViolation(run('node-writable-tmp', unbounded), 'Rollout/worker container "worker"', /no sizeLimit/);
    const cacheElsewhere = withEnv(PROD, 'api', 'NODE_COMPILE_CACHE', '/app/.cache');
    expectViolation(
      run('node-writable-tmp', cacheElsewhere),
      'Rollout/api container "api"',
      /NODE_COMPILE_CACHE=\/app\/.cache is not on a writable emptyDir/,
    );
  },
  'no-service-account-token': () => {
    const trees = brokenTrees(DEV, 'Rollout', 'worker', (o) => {
      podSpec(o).automountServiceAccountToken = true;
    });
    expectViolation(
      run('no-service-account-token', trees),
      'gitops/envs/dev: Rollout/worker',
      /automountServiceAccountToken: false/,
    );
  },
});
