// How a real Prometheus answer becomes a measurement: the result types, the empty vector, NaN, +Inf and
// query errors, queried from the Debian package's binary (no targets needed: PromQL builds the values).
import { freePort, PrometheusServer } from '@opsforge/harness';
import { measurePrometheusMetric } from './prometheus-provider';
import type { MetricSpec } from './analysis-run';

const GUARDED = {
  successCondition: 'len(result) == 1 && !isNaN(result[0]) && result[0] < 0.05',
  failureCondition: 'len(result) == 1 && !isNaN(result[0]) && result[0] >= 0.05',
};

let prometheus: PrometheusServer;

beforeAll(async () => {
  prometheus = await PrometheusServer.start({ scrapeIntervalMs: 1000 });
});

afterAll(async () => {
  await prometheus?.stop();
});

function measure(query: string, conditions: Partial<MetricSpec> = GUARDED, address = prometheus.url) {
  return measurePrometheusMetric(
    { name: 'm', ...conditions, provider: { prometheus: { address: 'http://in-cluster:9090', query } } },
    { address },
  );
}

describe('Prometheus provider against a real Prometheus', () => {
  it('reads a vector as the list of its values', async () => {
    await expect(measure('vector(0.01)')).resolves.toEqual({ phase: 'Successful', value: '[0.01]' });
    await expect(measure('vector(0.2)')).resolves.toEqual({ phase: 'Failed', value: '[0.2]' });
  });

  it('reads a scalar as a number: result[0] does not compile on it, so the measurement is Error', async () => {
    await expect(measure('scalar(vector(0.25))', { successCondition: 'result < 0.5' })).resolves.toEqual({
      phase: 'Successful',
      value: '0.25',
    });
    const indexed = await measure('scalar(vector(0.25))', { successCondition: 'result[0] < 0.5' });
    expect(indexed.phase).toBe('Error');
    expect(indexed.message).toContain('float64[int] is undefined');
    // The guarded templates' `len(result)` does not compile on a scalar either.
    await expect(measure('scalar(vector(0.25))')).resolves.toMatchObject({ phase: 'Error' });
  });

  it('an empty vector is Inconclusive when guarded, and Error when indexed unguarded', async () => {
    await expect(measure('no_such_series_for_the_rehearsal')).resolves.toEqual({
      phase: 'Inconclusive',
      value: '[]',
    });
    const unguarded = await measure('no_such_series_for_the_rehearsal', {
      successCondition: 'result[0] < 0.05',
    });
    expect(unguarded.phase).toBe('Error');
    expect(unguarded.message).toContain('index out of range');
  });

  it('NaN (0/0) is Inconclusive when guarded, Failed with an unguarded success condition', async () => {
    await expect(measure('vector(0) / vector(0)')).resolves.toEqual({
      phase: 'Inconclusive',
      value: '[NaN]',
    });
    await expect(
      measure('vector(0) / vector(0)', { successCondition: 'result[0] < 0.05' }),
    ).resolves.toMatchObject({
      phase: 'Failed',
    });
  });

  it('+Inf fails a threshold', async () => {
    await expect(measure('vector(1) / 0')).resolves.toEqual({ phase: 'Failed', value: '[+Inf]' });
  });

  it('a range vector is not a supported result type: Error', async () => {
    await expect(measure('prometheus_build_info[1m]')).resolves.toEqual({
      phase: 'Error',
      message: 'Prometheus metric type not supported',
    });
  });

  it('a query Prometheus rejects is an Error carrying its message', async () => {
    const rejected = await measure('sum(');
    expect(rejected.phase).toBe('Error');
    expect(rejected.message).toMatch(/^bad_data: /);
  });

  it('an address where nothing listens is an Error, not a verdict', async () => {
    const refused = await measure('vector(0)', GUARDED, `http://127.0.0.1:${await freePort()}`);
    expect(refused.phase).toBe('Error');
    expect(refused.message).toContain('ECONNREFUSED');
  });
});
