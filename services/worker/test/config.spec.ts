import { loadWorkerConfig } from '../src/config';

describe("configuration from the environment: the worker's own variables", () => {
  it('applies the documented defaults (docs/architecture.md) when nothing is set', () => {
    expect(loadWorkerConfig({}, '1.2.3')).toMatchObject({
      app: 'worker',
      PORT: 3001,
      WORKER_CONCURRENCY: 5,
      WORKER_LOCK_DURATION_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 30_000,
      CHAOS_JOB_FAILURE_RATIO: 0,
    });
  });

  it.each([
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', '2.5'],
    ['CHAOS_JOB_FAILURE_RATIO', '-0.1'],
    ['WORKER_LOCK_DURATION_MS', '500'],
    ['WORKER_LOCK_DURATION_MS', 'long'],
    ['WORKER_STALLED_INTERVAL_MS', '0'],
    ['WORKER_STALLED_INTERVAL_MS', '1500.5'],
  ])('worker: rejects %s=%j naming the variable', (variable, value) => {
    expect(() => loadWorkerConfig({ [variable]: value }, '1.0.0')).toThrow(
      new RegExp(`^invalid configuration: ${variable}: `),
    );
  });
});
