import { canaryPlan, renderOverlay, substituteArgs, type KubernetesObject } from './manifests';
import { scaleQueryDurations } from './promql';
import type { MetricSpec } from './analysis-run';

const HASHES = { stable: 'stab1ehash', canary: 'canaryhash' };

describe('canary plan from the rendered dev overlay (kubectl kustomize)', () => {
  let objects: KubernetesObject[];
  beforeAll(async () => {
    objects = await renderOverlay('dev');
  });

  it('passes the api AnalysisTemplates the args the Rollout would: Latest hash, fieldRef namespace, literal service', () => {
    const plan = canaryPlan(objects, 'api', HASHES);
    expect(plan.firstWeight).toBeGreaterThan(0);
    expect(plan.firstWeight).toBeLessThan(100);
    expect(plan.templateNames).toEqual(expect.arrayContaining(['http-error-rate', 'http-latency-p99']));
    expect(plan.args).toMatchObject({ service: 'api', namespace: 'dev', 'canary-hash': HASHES.canary });
    for (const metric of plan.metrics.filter((candidate) => candidate.provider.prometheus)) {
      const query = (metric.provider.prometheus as { query: string }).query;
      expect(query).not.toContain('{{');
      expect(query).toContain(`rollouts_pod_template_hash="${HASHES.canary}"`);
      expect(query).toContain('namespace="dev"');
      expect(`${metric.successCondition} ${metric.failureCondition}`).not.toContain('{{');
    }
    // The acceptance Job gets its target from the Rollout: the canary Service.
    const acceptance = plan.metrics.find((metric) => metric.provider.job);
    expect(JSON.stringify(acceptance)).toContain('"value":"http://api-canary"');
    expect(JSON.stringify(acceptance)).not.toContain('{{');
  });

  it('gives the pods the labels the ServiceMonitor gives them in the cluster', () => {
    for (const [rollout, service] of [
      ['api', 'api'],
      ['worker', 'worker'],
    ]) {
      const plan = canaryPlan(objects, rollout, HASHES);
      expect(plan.targetLabels({ name: `${rollout}-canaryhash-abcde`, hash: HASHES.canary })).toMatchObject({
        namespace: 'dev',
        service,
        job: service,
        pod: `${rollout}-canaryhash-abcde`,
        rollouts_pod_template_hash: HASHES.canary,
      });
      expect(plan.scrapeIntervalMs).toBeGreaterThan(0);
    }
  });

  it('runs the worker Rollout against the job-failure-ratio template', () => {
    const plan = canaryPlan(objects, 'worker', HASHES);
    expect(plan.templateNames).toContain('job-failure-ratio');
    expect(plan.args).toMatchObject({ service: 'worker', namespace: 'dev', 'canary-hash': HASHES.canary });
  });
});

function rollout(canary: Record<string, unknown>): KubernetesObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'api', namespace: 'team-a', labels: { tier: 'edge' } },
    spec: { replicas: 4, template: { metadata: { labels: { app: 'api' } } }, strategy: { canary } },
  };
}

const TEMPLATE: KubernetesObject = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'AnalysisTemplate',
  metadata: { name: 'errors' },
  spec: {
    args: [{ name: 'hash' }, { name: 'tier' }, { name: 'limit', value: '0.05' }],
    metrics: [
      {
        name: 'errors',
        interval: '30s',
        successCondition: 'result[0] < {{ args.limit }}',
        provider: {
          prometheus: {
            address: 'http://prometheus',
            query: 'x{hash="{{args.hash}}", tier="{{args.tier}}"}',
          },
        },
      },
    ],
  },
};

const MONITORING: KubernetesObject[] = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'api', labels: { app: 'api' } },
    spec: { selector: { app: 'api' } },
  },
  {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'api' },
    spec: {
      selector: { matchLabels: { app: 'api' } },
      endpoints: [{ port: 'http', interval: '30s' }],
      podTargetLabels: ['rollouts-pod-template-hash'],
    },
  },
];

describe('canary plan rules', () => {
  it('resolves Stable hashes, label fieldRefs and template defaults, and times a step analysis after its pauses', () => {
    const plan = canaryPlan(
      [
        rollout({
          steps: [
            { setWeight: 10 },
            { pause: { duration: '1m' } },
            { setWeight: 30 },
            { pause: { duration: 30 } },
            {
              analysis: {
                templates: [{ templateName: 'errors' }],
                args: [
                  { name: 'hash', valueFrom: { podTemplateHashValue: 'Stable' } },
                  { name: 'tier', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
                ],
              },
            },
          ],
        }),
        TEMPLATE,
        ...MONITORING,
      ],
      'api',
      HASHES,
    );
    expect(plan.analysisStartDelayMs).toBe(90_000);
    expect(plan.firstWeight).toBe(10);
    expect((plan.metrics[0].provider.prometheus as { query: string }).query).toBe(
      `x{hash="${HASHES.stable}", tier="edge"}`,
    );
    expect(plan.metrics[0].successCondition).toBe('result[0] < 0.05');
    expect(plan.scrapeIntervalMs).toBe(30_000);
  });

  it('refuses a Rollout whose analysis waits behind an indefinite pause', () => {
    expect(() =>
      canaryPlan(
        [
          rollout({
            steps: [
              { setWeight: 10 },
              { pause: {} },
              { analysis: { templates: [{ templateName: 'errors' }] } },
            ],
          }),
          TEMPLATE,
          ...MONITORING,
        ],
        'api',
        HASHES,
      ),
    ).toThrow('pauses indefinitely');
  });

  it('fails like the controller when a required argument has no value', () => {
    expect(() =>
      canaryPlan(
        [
          rollout({
            steps: [{ setWeight: 10 }],
            analysis: { templates: [{ templateName: 'errors' }], args: [] },
          }),
          TEMPLATE,
          ...MONITORING,
        ],
        'api',
        HASHES,
      ),
    ).toThrow('args.hash was not resolved');
  });

  it('substitutes args JSON-escaped in every string field, and rejects an unknown placeholder', () => {
    const metric: MetricSpec = {
      name: 'm',
      successCondition: '{{args.a}}',
      provider: { prometheus: { query: 'q{{ args.a }}' } },
    };
    const resolved = substituteArgs(metric, { a: 'say "hi"' });
    expect(resolved.successCondition).toBe('say "hi"');
    expect((resolved.provider.prometheus as { query: string }).query).toBe('qsay "hi"');
    expect(() => substituteArgs({ ...metric, failureCondition: '{{args.missing}}' }, { a: '1' })).toThrow(
      'failed to resolve {{args.missing}}',
    );
  });
});

describe('PromQL time scaling', () => {
  it('scales range, subquery and offset durations but never a label value', () => {
    const scaled = scaleQueryDurations(
      'sum(rate(x{window="1m"}[1m])) / max_over_time(y[5m:30s] offset 2m)',
      15,
      2000,
    );
    expect(scaled.query).toBe('sum((rate(x{window="1m"}[4s]) / 15)) / max_over_time(y[20s:2s] offset 8s)');
  });

  it('keeps a range at two scrapes at least, so rate() still has two samples', () => {
    expect(scaleQueryDurations('rate(x[30s])', 60, 2000).query).toBe('(rate(x[2s]) / 60)');
  });

  it('writes a sub-second duration in milliseconds', () => {
    expect(scaleQueryDurations('rate(x[15s])', 10, 500).query).toBe('(rate(x[1500ms]) / 10)');
  });

  it('puts rate() and irate() back in production units, so a per-second floor needs production traffic', () => {
    const scaled = scaleQueryDurations('sum(irate(a[1m])) > 1 and sum(rate(b[1m])) > 1', 15, 2000);
    expect(scaled.query).toBe('sum((irate(a[4s]) / 15)) > 1 and sum((rate(b[4s]) / 15)) > 1');
    expect(scaled.rewrites).toEqual([
      { from: '1m', to: '4s' },
      { from: '1m', to: '4s' },
      { from: 'irate()', to: 'irate() / 15' },
      { from: 'rate()', to: 'rate() / 15' },
    ]);
  });

  it('changes nothing at time scale 1', () => {
    expect(scaleQueryDurations('sum(rate(b[1m])) > 1', 1, 2000).query).toBe('sum(rate(b[1m])) > 1');
  });

  it('throws on a query that does not parse', () => {
    expect(() => scaleQueryDurations('sum(rate(x[1m])', 15, 2000)).toThrow('PromQL syntax error');
  });
});
