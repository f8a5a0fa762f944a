// Each pod-hardening rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import type { K8sObject } from '../model';
import { DEV, PROD, STAGING } from './tree-names';
import { breakObject, container, expectViolation, removeObject, run, testRuleFamily } from './broken-trees';
import { podHardeningRules } from './pod-hardening';

testRuleFamily(podHardeningRules, {
  'pod-security-restricted': () => {
    const trees = breakObject(PROD, 'Rollout', 'api', (o) => {
      container(o, 'api').securityContext.allowPrivilegeEscalation = true;
      delete container(o, 'api').securityContext.readOnlyRootFilesystem;
      container(o, 'api').securityContext.capabilities.drop = [];
    });
    const violations = run('pod-security-restricted', trees);
    expectViolation(
      violations,
      'gitops/envs/prod: Rollout/api container "api"',
      /allowPrivilegeEscalation: false/,
    );
    expectViolation(violations, 'Rollout/api container "api"', /readOnlyRootFilesystem: true/);
    expectViolation(violations, 'Rollout/api container "api"', /drop: \[ALL\]/);
    const privilegedAcceptance = breakObject(STAGING, 'AnalysisTemplate', 'canary-acceptance', (o) => {
      const job = o.spec.metrics[0].provider.job.spec.template.spec;
      delete job.securityContext.seccompProfile;
      delete job.containers[0].securityContext;
    });
    expectViolation(
      run('pod-security-restricted', privilegedAcceptance),
      'gitops/envs/staging: Job/canary-acceptance.acceptance-and-load container "acceptance"',
      /allowPrivilegeEscalation: false/,
    );
    const rootPod = breakObject(DEV, 'StatefulSet', 'redis', (o) => {
      o.spec.template.spec.securityContext.runAsNonRoot = false;
      delete container(o, 'redis').securityContext.runAsNonRoot;
      delete o.spec.template.spec.securityContext.seccompProfile;
      delete container(o, 'redis').securityContext.seccompProfile;
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
    const noTmp = breakObject(PROD, 'Rollout', 'api', (o) => {
      container(o, 'api').volumeMounts = [];
    });
    expectViolation(
      run('node-writable-tmp', noTmp),
      'gitops/envs/prod: Rollout/api container "api"',
      /read-only root filesystem but no writable emptyDir at \/tmp/,
    );
    const readOnlyTmp = breakObject(DEV, 'Rollout', 'worker', (o) => {
      container(o, 'worker').volumeMounts[0].readOnly = true;
    });
    expectViolation(
      run('node-writable-tmp', readOnlyTmp),
      'Rollout/worker container "worker"',
      /no writable emptyDir at \/tmp/,
    );
    const unbounded = breakObject(STAGING, 'Rollout', 'worker', (o) => {
      const tmp = o.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'tmp');
      delete tmp.emptyDir.sizeLimit;
    });
    expectViolation(run('node-writable-tmp', unbounded), 'Rollout/worker container "worker"', /no sizeLimit/);
    const cacheElsewhere = breakObject(PROD, 'Rollout', 'api', (o) => {
      container(o, 'api').env.push({ name: 'NODE_COMPILE_CACHE', value: '/app/.cache' });
    });
    expectViolation(
      run('node-writable-tmp', cacheElsewhere),
      'Rollout/api container "api"',
      /NODE_COMPILE_CACHE=\/app\/.cache is not on a writable emptyDir/,
    );
  },
  'no-service-account-token': () => {
    const trees = breakObject(DEV, 'Rollout', 'worker', (o) => {
      o.spec.template.spec.automountServiceAccountToken = true;
    });
    expectViolation(
      run('no-service-account-token', trees),
      'gitops/envs/dev: Rollout/worker',
      /automountServiceAccountToken: false/,
    );
  },
});
