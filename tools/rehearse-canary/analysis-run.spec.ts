import {
  AnalysisRun,
  isCompleted,
  type AnalysisPhase,
  type MeasurementOutcome,
  type MetricSpec,
} from './analysis-run';

/**
 * Drives a run on the test's fake clock until it completes (the rehearsal drives its runs with the Rollout's
 * steps, rehearsal.ts).
 * The controller re-queues a run for its next due time; a measurement is taken on the first reconcile
 * strictly after that time, so the loop wakes just past it.
 */
async function runToCompletion(
  run: AnalysisRun,
  options: {
    sleep: (ms: number) => Promise<void>;
    clock: () => number;
  },
): Promise<AnalysisRun> {
  for (;;) {
    await run.reconcileUntilSettled();
    if (isCompleted(run.phase)) return run;
    const next = run.nextReconcileAt();
    if (next === undefined)
      throw new Error('the analysis run is not complete but nothing is scheduled: the spec never ends');
    await options.sleep(Math.max(0, next - options.clock()) + 1);
  }
}

// The run-outcome rules on a fake clock: each metric's provider replays a script of measurement phases
// (the last one repeats), and the test reads back what the controller would have decided and when.
function scriptedRun(
  metrics: { spec: Partial<MetricSpec> & { name: string }; script: AnalysisPhase[] }[],
  dryRun: string[] = [],
) {
  let now = 0;
  const taken = new Map<string, number>();
  const byName = new Map(metrics.map((metric) => [metric.spec.name, metric.script]));
  const provider = async (metric: MetricSpec): Promise<MeasurementOutcome> => {
    const script = byName.get(metric.name)!;
    const index = taken.get(metric.name) ?? 0;
    taken.set(metric.name, index + 1);
    return { phase: script[Math.min(index, script.length - 1)] };
  };
  const run = new AnalysisRun({
    metrics: metrics.map(({ spec }) => ({ provider: { prometheus: { query: 'up' } }, ...spec })),
    dryRunMetrics: new Set(dryRun),
    provider,
    clock: () => now,
  });
  const finish = () =>
    runToCompletion(run, {
      clock: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
  const measuredAt = (name: string) =>
    run.results.get(name)!.measurements.map((measurement) => Math.round(measurement.finishedAt / 1000));
  return { run, finish, measuredAt, now: () => now };
}

/** A scripted run, driven to its end. */
async function completedRun(...script: Parameters<typeof scriptedRun>) {
  const scripted = scriptedRun(...script);
  await scripted.finish();
  return scripted;
}

const ERROR_RATIO: Partial<MetricSpec> = {
  initialDelay: '30s',
  interval: '15s',
  count: 18,
  failureLimit: 1,
  inconclusiveLimit: 2,
  consecutiveErrorLimit: 2,
};

/** The error-ratio metric (ERROR_RATIO's limits) measured `phase` every time, run to its end. */
async function errorRatioAlways(phase: AnalysisPhase) {
  const { run, measuredAt } = await completedRun([
    { spec: { name: 'error-ratio', ...ERROR_RATIO }, script: [phase] },
  ]);
  return { run, measuredAt: measuredAt('error-ratio') };
}

describe('AnalysisRun outcome rules (Argo Rollouts controller)', () => {
  it('fails a metric on failureLimit + 1 failed measurements, the first one after initialDelay', async () => {
    const { run, measuredAt } = await errorRatioAlways('Failed');
    expect(run.phase).toBe('Failed');
    expect(run.message).toBe('Metric "error-ratio" assessed Failed due to failed (2) > failureLimit (1)');
    expect(measuredAt).toEqual([30, 45]);
  });

  it('tolerates failures up to failureLimit when the other measurements pass', async () => {
    const { run } = await completedRun([
      { spec: { name: 'm', interval: '1s', count: 4, failureLimit: 1 }, script: ['Failed', 'Successful'] },
    ]);
    expect(run.phase).toBe('Successful');
    expect(run.results.get('m')!.failed).toBe(1);
  });

  it('is Successful only once count measurements are taken', async () => {
    const { run, measuredAt } = await errorRatioAlways('Successful');
    expect(run.phase).toBe('Successful');
    expect(measuredAt).toHaveLength(18);
    expect(measuredAt.at(-1)).toBe(30 + 15 * 17);
  });

  it('is Inconclusive, not Successful, when inconclusive measurements exceed inconclusiveLimit', async () => {
    const { run, measuredAt } = await errorRatioAlways('Inconclusive');
    expect(run.phase).toBe('Inconclusive');
    expect(measuredAt).toEqual([30, 45, 60]);
  });

  it('trap: Inconclusive measurements do not reset the failure count, and count toward count', async () => {
    const { run } = await completedRun([
      {
        spec: { name: 'm', interval: '1s', count: 5, failureLimit: 1, inconclusiveLimit: 3 },
        script: ['Failed', 'Inconclusive', 'Failed'],
      },
    ]);
    expect(run.phase).toBe('Failed');
    expect(run.results.get('m')!.count).toBe(3);
  });

  it('errors after consecutiveErrorLimit + 1 errors in a row, retried every 10 s whatever the interval', async () => {
    const { run, measuredAt } = await errorRatioAlways('Error');
    expect(run.phase).toBe('Error');
    expect(run.message).toContain('consecutiveErrors (3) > consecutiveErrorLimit (2)');
    expect(measuredAt).toEqual([30, 40, 50]);
    // An Error is not a measurement that counts toward `count`.
    expect(run.results.get('error-ratio')!.count).toBe(0);
  });

  it('defaults consecutiveErrorLimit to 4 and resets it on any other outcome', async () => {
    const { run } = await completedRun([
      {
        spec: { name: 'm', interval: '1s', count: 20 },
        script: ['Error', 'Error', 'Error', 'Error', 'Successful', 'Error'],
      },
    ]);
    expect(run.phase).toBe('Error');
    expect(run.results.get('m')!.error).toBe(4 + 5);
  });

  it('terminates the whole run on the first failed metric: the others stop and count as Successful', async () => {
    const { run, measuredAt } = await completedRun([
      { spec: { name: 'error-ratio', ...ERROR_RATIO }, script: ['Failed'] },
      { spec: { name: 'latency-p99', ...ERROR_RATIO }, script: ['Successful'] },
    ]);
    expect(run.phase).toBe('Failed');
    expect(run.results.get('latency-p99')!.phase).toBe('Successful');
    expect(measuredAt('latency-p99')).toEqual([30, 45]);
  });

  it('ends the run as soon as one metric fails, without waiting for the next measurement of the others', async () => {
    const { run, measuredAt } = await completedRun([
      { spec: { name: 'fast', interval: '1s', count: 10 }, script: ['Successful', 'Failed'] },
      { spec: { name: 'slow', interval: '1m', count: 10 }, script: ['Successful'] },
    ]);
    expect(run.phase).toBe('Failed');
    // The status update that records the failed metric re-enqueues the run: it is terminated right then.
    expect(Math.round(run.completedAt! / 1000)).toBe(measuredAt('fast').at(-1));
    expect(measuredAt('slow')).toEqual([0]);
  });

  it('takes the worst phase across metrics: Failed over Error over Inconclusive', async () => {
    const { run } = await completedRun([
      { spec: { name: 'a', interval: '1s', count: 3 }, script: ['Inconclusive'] },
      { spec: { name: 'b', interval: '1s', count: 3 }, script: ['Failed'] },
    ]);
    expect(run.phase).toBe('Failed');
  });

  it('ignores a dry-run metric for the outcome', async () => {
    const { run } = await completedRun(
      [
        { spec: { name: 'noisy', interval: '1s', count: 3 }, script: ['Failed'] },
        { spec: { name: 'real', interval: '1s', count: 3 }, script: ['Successful'] },
      ],
      ['noisy'],
    );
    expect(run.phase).toBe('Successful');
    expect(run.results.get('noisy')!.phase).toBe('Failed');
  });

  it('takes one measurement when a metric has neither count nor interval', async () => {
    const { run } = await completedRun([{ spec: { name: 'once' }, script: ['Successful'] }]);
    expect(run.phase).toBe('Successful');
    expect(run.results.get('once')!.measurements).toHaveLength(1);
  });

  it('a metric with an interval and no count runs until the Rollout terminates the run', async () => {
    const { run } = scriptedRun([{ spec: { name: 'background', interval: '1m' }, script: ['Successful'] }]);
    await run.reconcile();
    await run.reconcile();
    expect(run.phase).toBe('Running');
    run.terminate();
    await run.reconcile();
    expect(run.phase).toBe('Successful');
    expect(run.message).toBe('Run Terminated');
  });

  it('takes no measurement of a delayed metric in the first reconcile', async () => {
    const { run } = scriptedRun([
      { spec: { name: 'delayed', initialDelay: '1s', count: 1 }, script: ['Successful'] },
    ]);
    await run.reconcile();
    expect(run.results.size).toBe(0);
    expect(run.nextReconcileAt()).toBe(1000);
  });

  it('is an Error run when the spec is invalid, before any measurement', async () => {
    const { run } = await completedRun([
      { spec: { name: 'bad', count: 3, failureLimit: 5, interval: '1s' }, script: ['Successful'] },
    ]);
    expect(run.phase).toBe('Error');
    expect(run.message).toContain('count must be >= failureLimit');
    expect(run.results.size).toBe(0);
  });

  it('scales every duration, the error retry included, by the time scale', async () => {
    let now = 0;
    const run = new AnalysisRun({
      metrics: [
        {
          name: 'm',
          initialDelay: '30s',
          interval: '15s',
          count: 3,
          consecutiveErrorLimit: 1,
          provider: { prometheus: {} },
        },
      ],
      provider: async () => ({ phase: 'Error' }),
      clock: () => now,
      timeScale: 10,
    });
    await runToCompletion(run, { clock: () => now, sleep: async (ms) => void (now += ms) });
    expect(run.phase).toBe('Error');
    expect(run.results.get('m')!.measurements.map((m) => Math.round(m.finishedAt))).toEqual([3001, 4002]);
  });
});
