import request from 'supertest';
import { defaultJobOptions } from '@opsforge/common/job-contract';
import { type RunningService, useTestQueue, waitFor } from '@opsforge/harness';

// SIGTERM as Kubernetes sends it: readiness fails first, work in flight finishes within SHUTDOWN_TIMEOUT_MS,
// then the process exits 0.
const jobs = useTestQueue('shutdown');

async function activeJob(holdMs: number): Promise<string> {
  const job = await jobs.queue.add(
    'ping',
    { payload: { holdMs }, requestId: `hold-${holdMs}` },
    { ...defaultJobOptions },
  );
  const id = String(job.id);
  await waitFor(
    `job ${id} to be active`,
    async () => (await jobs.queue.getJobState(id)) === 'active',
    5000,
    20,
  );
  return id;
}

it('worker: stops taking jobs, fails readiness, finishes the active job, exits 0', async () => {
  const worker: RunningService = await jobs.startService('worker', { env: { SHUTDOWN_TIMEOUT_MS: '10000' } });
  try {
    const id = await activeJob(1500);
    const signalled = Date.now();
    worker.process.kill('SIGTERM');
    await waitFor(
      'readiness to fail while draining',
      async () => {
        const response = await request(worker.url).get('/ready');
        return response.status === 503 && response.body.error?.shutdown?.status === 'down';
      },
      1000,
      20,
    );
    // A job enqueued during the drain is left for the next worker, not started.
    const late = await jobs.queue.add('ping', { payload: {}, requestId: 'late' }, { ...defaultJobOptions });

    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(1000);
    expect(await jobs.queue.getJobState(id)).toBe('completed');
    expect(await jobs.queue.getJobState(String(late.id))).toBe('waiting');
    await worker.waitForLog((line) => line.msg === 'drained: every active job finished');
  } finally {
    await worker.stop('SIGKILL');
    await jobs.queue.drain();
  }
});

it('worker: gives up on a job that outlasts SHUTDOWN_TIMEOUT_MS and still exits 0 in time', async () => {
  const worker = await jobs.startService('worker', { env: { SHUTDOWN_TIMEOUT_MS: '500' } });
  try {
    const id = await activeJob(20_000);
    const signalled = Date.now();
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(3000);
    await worker.waitForLog((line) => /did not finish within 500 ms/.test(String(line.msg)));
    // Not completed, not failed: still active until its lock expires and another worker picks it up again.
    expect(await jobs.queue.getJobState(id)).toBe('active');
  } finally {
    await worker.stop('SIGKILL');
  }
});

it('api: a request in flight at SIGTERM is answered, then the process exits 0', async () => {
  // CHAOS_LATENCY_MS stands in for a slow request.
  const api = await jobs.startService('api', { env: { CHAOS_LATENCY_MS: '800' } });
  try {
    const inFlight = request(api.url).get('/api/status');
    const answered = inFlight.then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 200));
    api.process.kill('SIGTERM');
    const response = await answered;
    expect(response.status).toBe(200);
    expect(response.body.service).toBe('api');
    expect(await api.exited).toEqual({ code: 0, signal: null });
  } finally {
    await api.stop('SIGKILL');
  }
});
