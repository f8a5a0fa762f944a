// Every policy rule against the real rendered tree (it must pass) and against a copy broken in the one way the
// rule exists to catch (it must fail, naming the object and the fix). A rule that cannot fail fails here.
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { K8sObject, RenderedTree, Violation } from './model';
import { renderAll } from './render';
import { RULES } from './rules';

const repositoryRoot = join(__dirname, '..', '..');
let rendered: RenderedTree[];

beforeAll(() => {
  rendered = renderAll(repositoryRoot);
});

function run(ruleName: string, trees: RenderedTree[]): Violation[] {
  const rule = RULES.find((r) => r.name === ruleName);
  if (!rule) throw new Error(`no rule named ${ruleName}`);
  return rule.check(trees, repositoryRoot);
}

/** A deep copy of the rendered trees with one object changed. */
function breakObject(
  source: string,
  kind: string,
  name: string,
  mutate: (object: K8sObject) => void,
): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source);
  const object = tree?.objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object) throw new Error(`${source} renders no ${kind}/${name}`);
  mutate(object);
  return copy;
}

function removeObject(source: string, kind: string, name: string): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source) as RenderedTree;
  tree.objects = tree.objects.filter((o) => !(o.kind === kind && o.metadata?.name === name));
  return copy;
}

function container(object: K8sObject, name: string): K8sObject {
  return object.spec.template.spec.containers.find((c: K8sObject) => c.name === name);
}

const PROD = 'gitops/envs/prod';
const DEV = 'gitops/envs/dev';
const STAGING = 'gitops/envs/staging';
const ARGOCD = 'argocd';

function expectViolation(violations: Violation[], whereText: string, message: RegExp): void {
  expect(violations).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        where: expect.stringContaining(whereText),
        message: expect.stringMatching(message),
      }),
    ]),
  );
}

test('the committed tree renders dev, staging, prod and argocd and breaks no rule', () => {
  expect(
    rendered
      .filter((t) => t.role !== 'application-source')
      .map((t) => t.source)
      .sort(),
  ).toEqual([ARGOCD, DEV, PROD, STAGING].sort());
  for (const rule of RULES)
    expect({ rule: rule.name, violations: rule.check(rendered, repositoryRoot) }).toEqual({
      rule: rule.name,
      violations: [],
    });
});

test('every rule has a name, a summary and a test below', () => {
  const names = RULES.map((r) => r.name);
  expect(new Set(names).size).toBe(names.length);
  for (const rule of RULES) expect(rule.summary.length).toBeGreaterThan(20);
  expect(names.sort()).toEqual(Object.keys(BROKEN).sort());
});

const BROKEN: Record<string, () => void> = {
  'contract-names': () => {
    expectViolation(
      run('contract-names', removeObject(STAGING, 'Service', 'api-canary')),
      'gitops/envs/staging',
      /renders no Service "api-canary"/,
    );
    const relabelled = breakObject(PROD, 'Rollout', 'worker', (o) => {
      o.spec.template.metadata.labels['app.kubernetes.io/name'] = 'opsforge-worker';
    });
    expectViolation(
      run('contract-names', relabelled),
      'gitops/envs/prod: Rollout/worker',
      /app.kubernetes.io\/name: worker/,
    );
    const wrongNamespace = breakObject(DEV, 'Rollout', 'api', (o) => {
      o.metadata.namespace = 'default';
    });
    expectViolation(run('contract-names', wrongNamespace), 'gitops/envs/dev', /must live in namespace "dev"/);
  },
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
  probes: () => {
    const missing = breakObject(
      DEV,
      'StatefulSet',
      'redis',
      (o) => delete container(o, 'redis').readinessProbe,
    );
    expectViolation(run('probes', missing), 'StatefulSet/redis container "redis"', /no readinessProbe/);
    const wrongPath = breakObject(STAGING, 'Rollout', 'worker', (o) => {
      container(o, 'worker').readinessProbe.httpGet.path = '/health';
    });
    expectViolation(
      run('probes', wrongPath),
      'Rollout/worker container "worker"',
      /readinessProbe must be an httpGet on \/ready/,
    );
    const wrongPort = breakObject(STAGING, 'Rollout', 'api', (o) => {
      container(o, 'api').livenessProbe.httpGet.port = 8080;
    });
    expectViolation(
      run('probes', wrongPort),
      'Rollout/api container "api"',
      /port 8080, which the container does not declare/,
    );
  },
  resources: () => {
    const trees = breakObject(PROD, 'Rollout', 'worker', (o) => {
      delete container(o, 'worker').resources.limits.memory;
      container(o, 'worker').resources.requests.cpu = '4';
    });
    const violations = run('resources', trees);
    expectViolation(violations, 'Rollout/worker container "worker"', /no resources.limits.memory/);
    expectViolation(violations, 'Rollout/worker container "worker"', /requests cpu 4 above its limit 2/);
    // The sizes of gitops/base before they were measured: the API was OOM-killed under load at 256Mi.
    const unmeasured = breakObject(STAGING, 'Rollout', 'api', (o) => {
      container(o, 'api').resources = {
        requests: { cpu: '100m', memory: '128Mi' },
        limits: { cpu: '1', memory: '256Mi' },
      };
    });
    const sizing = run('resources', unmeasured);
    expectViolation(sizing, 'Rollout/api container "api"', /requests memory 128Mi, below .* idle footprint/);
    expectViolation(
      sizing,
      'Rollout/api container "api"',
      /limits memory 256Mi, under 377 MiB .* OOM-killed/,
    );
  },
  'immutable-image-tags': () => {
    const ours = breakObject(PROD, 'Rollout', 'api', (o) => {
      container(o, 'api').image = 'ghcr.io/opsforge/api:latest';
    });
    expectViolation(
      run('immutable-image-tags', ours),
      'Rollout/api container "api"',
      /40-character git sha.*gitops\/envs\/prod\/kustomization.yaml/,
    );
    const shortSha = breakObject(DEV, 'Rollout', 'worker', (o) => {
      container(o, 'worker').image = 'ghcr.io/opsforge/worker:9779db8';
    });
    expectViolation(run('immutable-image-tags', shortSha), 'Rollout/worker', /40-character git sha/);
    const thirdParty = breakObject(DEV, 'StatefulSet', 'redis', (o) => {
      container(o, 'redis').image = 'docker.io/library/redis:7';
    });
    expectViolation(run('immutable-image-tags', thirdParty), 'StatefulSet/redis', /full release version/);
    const pluginImage = breakObject(ARGOCD, 'Application', 'argo-rollouts', (o) => {
      o.spec.source.helm.valuesObject.controller.initContainers[0].image =
        'ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:latest';
    });
    expectViolation(
      run('immutable-image-tags', pluginImage),
      'argocd: Application/argo-rollouts valuesObject.controller.initContainers[0].image',
      /full release version/,
    );
  },
  'workload-has-pdb': () => {
    expectViolation(
      run('workload-has-pdb', removeObject(STAGING, 'PodDisruptionBudget', 'worker')),
      'gitops/envs/staging: Rollout/worker',
      /no PodDisruptionBudget selects its pods/,
    );
  },
  'workload-has-networkpolicy': () => {
    expectViolation(
      run('workload-has-networkpolicy', removeObject(PROD, 'NetworkPolicy', 'redis')),
      'gitops/envs/prod: StatefulSet/redis',
      /no NetworkPolicy/,
    );
  },
  'pdb-allows-eviction': () => {
    const trees = breakObject(DEV, 'PodDisruptionBudget', 'api', (o) => {
      delete o.spec.maxUnavailable;
      o.spec.minAvailable = 1;
    });
    expectViolation(
      run('pdb-allows-eviction', trees),
      'gitops/envs/dev: PodDisruptionBudget/api',
      /allows no eviction of Rollout\/api at 1 replica/,
    );
    const percent = breakObject(PROD, 'PodDisruptionBudget', 'worker', (o) => {
      o.spec.maxUnavailable = '0%';
    });
    expectViolation(run('pdb-allows-eviction', percent), 'PodDisruptionBudget/worker', /allows no eviction/);
  },
  'hpa-consistent': () => {
    const floor = breakObject(PROD, 'HorizontalPodAutoscaler', 'api', (o) => {
      o.spec.minReplicas = 2;
    });
    expectViolation(
      run('hpa-consistent', floor),
      'gitops/envs/prod: HorizontalPodAutoscaler/api',
      /minReplicas 2 differs from Rollout\/api replicas 3/,
    );
    const target = breakObject(DEV, 'HorizontalPodAutoscaler', 'worker', (o) => {
      o.spec.scaleTargetRef.apiVersion = 'apps/v1';
      o.spec.scaleTargetRef.kind = 'Deployment';
    });
    expectViolation(run('hpa-consistent', target), 'HorizontalPodAutoscaler/worker', /matches no workload/);
    const metrics = breakObject(DEV, 'HorizontalPodAutoscaler', 'api', (o) => {
      o.spec.metrics = o.spec.metrics.filter((m: K8sObject) => m.resource.name !== 'memory');
    });
    expectViolation(
      run('hpa-consistent', metrics),
      'HorizontalPodAutoscaler/api',
      /does not scale on memory/,
    );
    const idleTrips = breakObject(DEV, 'Rollout', 'worker', (o) => {
      container(o, 'worker').resources.requests.memory = '160Mi';
    });
    expectViolation(
      run('hpa-consistent', idleTrips),
      'gitops/envs/dev: HorizontalPodAutoscaler/worker',
      /scales out at 80% of a 160 MiB memory request = 128 MiB, which .* idle footprint \(150 MiB\)/,
    );
  },
  'env-sizing': () => {
    const prodTwo = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.replicas = 2;
    });
    expectViolation(
      run('env-sizing', prodTwo),
      'gitops/envs/prod: Rollout/api',
      /prod runs 3 replicas per service, not 2/,
    );
    const devThree = breakObject(DEV, 'Rollout', 'worker', (o) => {
      o.spec.replicas = 3;
    });
    expectViolation(
      run('env-sizing', devThree),
      'gitops/envs/dev: Rollout/worker',
      /dev runs 1 replica per service, not 3/,
    );
    const smallProd = breakObject(PROD, 'Rollout', 'worker', (o) => {
      container(o, 'worker').resources.requests.memory = '64Mi';
    });
    expectViolation(
      run('env-sizing', smallProd),
      'gitops/envs/prod: Rollout/worker',
      /requests less memory than in staging/,
    );
  },
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
      /pauses 30s in total after step 1, less than the 60s http-error-rate\/error-ratio needs/,
    );
    const firstShort = breakObject(PROD, 'Rollout', 'worker', (o) => {
      o.spec.strategy.canary.steps[1].pause.duration = '30s';
    });
    expectViolation(
      run('pause-budget', firstShort),
      'Rollout/worker',
      /first pause \(30s\) ends before job-failure-ratio\/job-failure-ratio can decide \(100s\)/,
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
      /stops measuring after 75s but the canary pauses 270s/,
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
      o.spec.metrics[0].inconclusiveLimit = 18;
    });
    expectViolation(
      run('analysis-no-traffic-inconclusive', passesIdle),
      'AnalysisTemplate/http-latency-p99',
      /inconclusiveLimit 18 is not below count 18/,
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
  'graceful-shutdown': () => {
    const trees = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.template.spec.terminationGracePeriodSeconds = 20;
    });
    expectViolation(
      run('graceful-shutdown', trees),
      'Rollout/api container "api"',
      /needs 25s to stop \(preStop 5s \+ SHUTDOWN_TIMEOUT_MS 20000\).*terminationGracePeriodSeconds 20s/,
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
  'redis-memory-headroom': () => {
    // The sizes before this rule: maxmemory 200mb in a 320Mi container.
    const tight = breakObject(PROD, 'StatefulSet', 'redis', (o) => {
      container(o, 'redis').resources.limits.memory = '320Mi';
    });
    expectViolation(
      run('redis-memory-headroom', tight),
      'gitops/envs/prod: StatefulSet/redis container "redis"',
      /limits memory 320Mi, under twice maxmemory 256mb/,
    );
    const trees = structuredClone(rendered);
    const dev = trees.find((t) => t.source === DEV) as RenderedTree;
    const config = dev.objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('redis-config-'),
    ) as K8sObject;
    config.data['redis.conf'] = config.data['redis.conf']
      .replace(/^maxmemory .*$/m, 'maxmemory 1gb')
      .replace(/^maxmemory-policy .*$/m, 'maxmemory-policy allkeys-lru');
    const violations = run('redis-memory-headroom', trees);
    expectViolation(
      violations,
      'StatefulSet/redis container "redis"',
      /requests memory 320Mi, less than maxmemory 1gb/,
    );
    expectViolation(violations, 'StatefulSet/redis container "redis"', /maxmemory-policy noeviction/);
    config.data['redis.conf'] = config.data['redis.conf'].replace(/^maxmemory .*$/m, '');
    expectViolation(run('redis-memory-headroom', trees), 'StatefulSet/redis', /sets no maxmemory/);
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
  'topology-spread': () => {
    const trees = breakObject(PROD, 'Rollout', 'api', (o) => {
      o.spec.template.spec.topologySpreadConstraints = o.spec.template.spec.topologySpreadConstraints.filter(
        (c: K8sObject) => c.topologyKey !== 'topology.kubernetes.io/zone',
      );
    });
    expectViolation(
      run('topology-spread', trees),
      'gitops/envs/prod: Rollout/api',
      /topology.kubernetes.io\/zone/,
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
    const noNamespace = breakObject(STAGING, 'Rollout', 'api', (o) => {
      delete o.spec.strategy.canary.trafficRouting.plugins['argoproj-labs/gatewayAPI'].namespace;
    });
    expectViolation(
      run('traffic-router-wired', noNamespace),
      'gitops/envs/staging: Rollout/api',
      /looks for HTTPRoute api in namespace "", not the Rollout's "staging"/,
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
  'chaos-off-in-prod': () => {
    const trees = structuredClone(rendered);
    const prod = trees.find((t) => t.source === PROD) as RenderedTree;
    const configMap = prod.objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('api-config-'),
    ) as K8sObject;
    configMap.data.CHAOS_ERROR_RATIO = '0.2';
    expectViolation(
      run('chaos-off-in-prod', trees),
      'gitops/envs/prod: ConfigMap/api-config-',
      /CHAOS_ERROR_RATIO=0.2 injects faults in prod/,
    );
    const direct = breakObject(PROD, 'Rollout', 'worker', (o) => {
      container(o, 'worker').env.push({ name: 'CHAOS_JOB_FAILURE_RATIO', value: '0.5' });
    });
    expectViolation(
      run('chaos-off-in-prod', direct),
      'Rollout/worker container "worker"',
      /CHAOS_JOB_FAILURE_RATIO injects faults in prod/,
    );
    // The same knob in dev is what the canary rehearsal is for.
    const devTrees = structuredClone(rendered);
    const dev = devTrees.find((t) => t.source === DEV) as RenderedTree;
    (
      dev.objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('api-config-'),
      ) as K8sObject
    ).data.CHAOS_ERROR_RATIO = '0.2';
    expect(run('chaos-off-in-prod', devTrees)).toEqual([]);
  },
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
      o.spec.generators[0].git.directories[0].path = 'gitops/environments/*';
    });
    expectViolation(
      run('argocd-sources-exist', generator),
      'ApplicationSet/opsforge-envs',
      /"gitops\/environments\/\*" matches nothing/,
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
  'no-secret-data-in-git': () => {
    const trees = structuredClone(rendered);
    (trees.find((t) => t.source === DEV) as RenderedTree).objects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'redis-password', namespace: 'dev' },
      stringData: { password: 'hunter2' },
    });
    expectViolation(
      run('no-secret-data-in-git', trees),
      'gitops/envs/dev: Secret/redis-password',
      /carries secret data in git/,
    );
    // Alertmanager's configuration Secret passes only while every credential is a *_file.
    const inline = structuredClone(rendered);
    const observability = inline.find((t) => t.source === 'observability') as RenderedTree;
    const config = observability.objects.find(
      (o) => o.kind === 'Secret' && o.metadata.name === 'alertmanager-opsforge',
    ) as K8sObject;
    const alertmanagerConfig = parseYaml(
      Buffer.from(config.data['alertmanager.yaml'].replace(/\s/g, ''), 'base64').toString('utf8'),
    ) as K8sObject;
    alertmanagerConfig.receivers.push({
      name: 'inline-slack',
      slack_configs: [{ api_url: 'https://hooks.slack.com/services/T0/B0/secret' }],
    });
    config.data['alertmanager.yaml'] = Buffer.from(stringifyYaml(alertmanagerConfig)).toString('base64');
    expectViolation(
      run('no-secret-data-in-git', inline),
      'observability: Secret/alertmanager-opsforge',
      /inline credential at receivers\[\d+\]\.slack_configs\[0\]\.api_url: use api_url_file/,
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
};

describe('each rule fails on the object it exists to catch', () => {
  for (const [name, scenario] of Object.entries(BROKEN)) test(name, scenario);
});
