import request from 'supertest';
import { defaultJobOptions, jobEffectKey } from '@opsforge/common/job-contract';
import { type RunningService, useTestQueue, waitFor } from '@opsforge/harness';

// Jobs end to end through real processes: API → Redis → worker → result read back through the API.

async function settled(
  api: RunningService,
  id: string,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  return waitFor(
    `job ${id} to complete or fail`,
    async () => {
      const { body } = await request(api.url).get(`/api/job/${id}`).expect(200);
      return ['completed', 'failed'].includes(body.state) ? (body as Record<string, unknown>) : undefined;
    },
    timeoutMs,
  );
}

describe('with a healthy worker', () => {
  const jobs = useTestQueue('jobs');
  let api: RunningService;
  let worker: RunningService;

  beforeAll(async () => {
    [api, worker] = await Promise.all([
      jobs.startService('api'),
      jobs.startService('worker', { env: { WORKER_CONCURRENCY: '3' } }),
    ]);
  });

  it('computes an invoice total and returns it through GET /api/job/:id', async () => {
    const payload = {
      invoiceId: 'INV-100',
      currency: 'EUR',
      taxRatePercent: 19.25,
      lines: [
        { sku: 'a', quantity: 3, unitPriceCents: 1999 },
        { sku: 'b', quantity: 1, unitPriceCents: 1 },
      ],
    };
    const { body: receipt } = await request(api.url)
      .post('/api/job')
      .send({ type: 'invoice.total', payload })
      .expect(202);
    const job = await settled(api, receipt.id);
    // 3 × 19.99 + 0.01 = 59.98; 19.25 % tax = 11.546 → 11.55
    expect(job).toMatchObject({
      state: 'completed',
      attemptsMade: 1,
      result: {
        invoiceId: 'INV-100',
        currency: 'EUR',
        lineCount: 2,
        subtotalCents: 5998,
        taxCents: 1155,
        totalCents: 7153,
      },
    });
    expect(job.finishedAt).toEqual(expect.any(String));
    // The effect is recorded once, under the job id, with the result the client reads.
    expect(JSON.parse((await jobs.client.get(jobEffectKey(jobs.prefix, receipt.id))) ?? 'null')).toEqual(
      job.result,
    );
  });

  it('fails a job that can never succeed at once, with the reason, and keeps it in the failed set', async () => {
    const payload = {
      invoiceId: 'INV-HUGE',
      currency: 'USD',
      taxRatePercent: 0,
      lines: [{ sku: 'yacht', quantity: 1_000_000, unitPriceCents: 10_000_000_000 }],
    };
    const { body: receipt } = await request(api.url)
      .post('/api/job')
      .send({ type: 'invoice.total', payload })
      .expect(202);
    const job = await settled(api, receipt.id);
    expect(job).toMatchObject({ state: 'failed', attemptsMade: 1, attempts: defaultJobOptions.attempts });
    expect(job.failedReason).toMatch(/INV-HUGE totals 10000000000000000 cents, above the limit/);
    expect((await jobs.queue.getFailed()).map((failed) => failed.id)).toContain(receipt.id);
  });

  it('fails a job whose payload bypassed the API validation, instead of retrying it', async () => {
    const job = await jobs.queue.add(
      'invoice.total',
      { payload: { invoiceId: 'INV-X' }, requestId: 'direct-add' },
      { ...defaultJobOptions },
    );
    const read = await settled(api, String(job.id));
    expect(read).toMatchObject({ state: 'failed', attemptsMade: 1 });
    expect(read.failedReason).toMatch(/^invalid payload: payload\.currency/);
    // The bad job did not take the worker down.
    await request(worker.url).get('/health').expect(200);
  });

  it('carries one correlation id from the HTTP request through the job to every worker line about it', async () => {
    const requestId = `trace-${Date.now()}`;
    const response = await request(api.url)
      .post('/api/job')
      .set('x-request-id', requestId)
      .send({ type: 'ping', payload: { note: 'hello' } })
      .expect(202);
    expect(response.headers['x-request-id']).toBe(requestId);
    const job = await settled(api, response.body.id);
    expect(job).toMatchObject({ state: 'completed', requestId, result: { pong: true, note: 'hello' } });

    const apiLine = await api.waitForLog((line) => line.requestId === requestId);
    expect(apiLine).toMatchObject({
      app: 'api',
      req: { method: 'POST', url: '/api/job' },
      res: { statusCode: 202 },
    });
    const workerLine = await worker.waitForLog((line) => line.jobId === response.body.id);
    expect(workerLine).toMatchObject({
      app: 'worker',
      level: 'info',
      requestId,
      jobType: 'ping',
      attempt: 1,
    });
    for (const line of worker.logs.filter((entry) => entry.jobId === response.body.id))
      expect(line.requestId).toBe(requestId);
  });

  it('exports job outcomes, durations, queue depth and concurrency on the worker /metrics', async () => {
    const { text } = await request(worker.url).get('/metrics').expect(200);
    expect(text).toMatch(/^jobs_processed_total\{job_type="invoice\.total",outcome="completed"\} [1-9]\d*$/m);
    expect(text).toMatch(
      /^jobs_processed_total\{job_type="invoice\.total",outcome="failed"\} ([2-9]|\d\d+)$/m,
    );
    expect(text).toMatch(
      /^job_duration_seconds_bucket\{le="0\.01",job_type="ping",outcome="completed"\} [1-9]\d*$/m,
    );
    for (const state of ['waiting', 'active', 'delayed', 'prioritized', 'completed'])
      expect(text).toMatch(new RegExp(`^queue_jobs\\{queue="jobs",state="${state}"\\} \\d+$`, 'm'));
    expect(text).toMatch(/^queue_jobs\{queue="jobs",state="failed"\} ([2-9]|\d\d+)$/m);
    expect(text).toMatch(/^queue_oldest_waiting_job_age_seconds\{queue="jobs"\} 0$/m);
    expect(text).toMatch(/^worker_concurrency 3$/m);
    expect(text).toMatch(/^app_info\{version="0\.1\.0"\} 1$/m);
  });
});

describe('with a worker whose every attempt fails (CHAOS_JOB_FAILURE_RATIO=1)', () => {
  const jobs = useTestQueue('retries');
  let worker: RunningService;

  beforeAll(async () => {
    worker = await jobs.startService('worker', { env: { CHAOS_JOB_FAILURE_RATIO: '1' } });
  });

  it('retries with exponentially growing delays, then keeps the exhausted job in the failed set', async () => {
    // The contract's policy with a 100 ms base delay instead of 1 s and no jitter, so the test sees all five
    // attempts in about 1.5 s and the growth of each delay exactly.
    const job = await jobs.queue.add(
      'ping',
      { payload: {}, requestId: 'retry-test' },
      { ...defaultJobOptions, backoff: { type: 'exponential', delay: 100, jitter: 0 } },
    );
    const id = String(job.id);
    await waitFor(
      'the job to fail for good',
      async () => (await jobs.queue.getJobState(id)) === 'failed',
      15_000,
    );
    // Log lines are written asynchronously: wait for the last attempt's line before reading them all.
    await worker.waitForLog((line) => line.jobId === id && line.attempt === 5);

    const attemptLines = worker.logs.filter((line) => line.jobId === id);
    expect(attemptLines.map((line) => line.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(
      attemptLines.slice(0, 4).every((line) => line.level === 'warn' && /will retry/.test(String(line.msg))),
    ).toBe(true);
    expect(attemptLines[4]).toMatchObject({ level: 'error', requestId: 'retry-test' });
    const times = attemptLines.map((line) => Date.parse(String(line.time)));
    const gaps = times.slice(1).map((time, index) => time - times[index]);
    // Delays of 100, 200, 400, 800 ms: each gap is at least its nominal delay and at most a fixed scheduling
    // overhead above it, so the gaps double as the attempts go on.
    gaps.forEach((gap, index) => {
      const nominal = 100 * 2 ** index;
      expect(gap).toBeGreaterThanOrEqual(nominal - 5);
      expect(gap).toBeLessThan(nominal + 250);
    });

    const failed = await jobs.queue.getJob(id);
    expect(failed?.attemptsMade).toBe(5);
    expect(failed?.failedReason).toBe('injected failure (CHAOS_JOB_FAILURE_RATIO)');
    const { text } = await request(worker.url).get('/metrics').expect(200);
    expect(text).toMatch(/^jobs_processed_total\{job_type="ping",outcome="retried"\} 4$/m);
    expect(text).toMatch(/^jobs_processed_total\{job_type="ping",outcome="failed"\} 1$/m);
  });
});

describe('with WORKER_LOCK_DURATION_MS and WORKER_STALLED_INTERVAL_MS set', () => {
  const jobs = useTestQueue('stall-timers');
  const lockDurationMs = 2_000;
  let worker: RunningService;

  beforeAll(async () => {
    worker = await jobs.startService('worker', {
      env: { WORKER_LOCK_DURATION_MS: String(lockDurationMs), WORKER_STALLED_INTERVAL_MS: '1000' },
    });
  });

  it('locks a running job for WORKER_LOCK_DURATION_MS, not BullMQ default 30 s, and says so at start', async () => {
    await jobs.queue.add(
      'ping',
      { payload: { holdMs: 1_500 }, requestId: 'req-lock' },
      { ...defaultJobOptions, jobId: 'held' },
    );
    const lockTtlMs = await waitFor(
      'the job to be active with a lock',
      async () => {
        const ttl = await jobs.client.pttl(`${jobs.prefix}:jobs:held:lock`);
        return ttl > 0 ? ttl : undefined;
      },
      5_000,
      20,
    );
    expect(lockTtlMs).toBeLessThanOrEqual(lockDurationMs);
    await worker.waitForLog((line) =>
      String(line.msg).includes('lock 2000 ms, stalled-job check every 1000 ms'),
    );
    await waitFor('the job to complete', async () => (await jobs.queue.getJobState('held')) === 'completed');
  });
});
