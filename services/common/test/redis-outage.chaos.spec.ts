import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { jobEffectKey } from '../src/job-contract';
import {
  type RedisServer,
  type RunningService,
  startRedisServer,
  startService,
  testQueuePrefix,
  waitFor,
} from './support';
import { type LoadRequest, runOpenLoopLoad } from './chaos/open-loop-load';
import { openQueue } from './chaos/job-effects-probe';

/**
 * Redis dies under load and comes back. Against the real built api and worker on a private redis-server with
 * AOF (fsync on every write), killed with SIGKILL mid-load and restarted on the same port from its AOF:
 *
 * - `/ready` of both services turns 503 within 5 s; `POST /api/job` answers 503 within 1 s, never hangs;
 *   neither process exits.
 * - After the restart both are ready again within 5 s, the worker resumes, and every job the API acknowledged
 *   (202), before, during or after the outage, is completed: none lost.
 */

const RATE_PER_SECOND = 50;
const LOAD_MS = 12_000;
const KILL_AT_MS = 2_500;
const OUTAGE_MS = 4_000;
const READINESS_POLL_MS = 100;

interface ReadinessWatch {
  /** ms (performance.now) of the first answer other than 200 at or after `since`, if any. */
  firstNotReadyAfter(since: number): number | undefined;
  /** ms of the first 200 at or after `since`, if any. */
  firstReadyAfter(since: number): number | undefined;
  stop(): Promise<void>;
}

/** Probe `/ready` every READINESS_POLL_MS, as a kubelet would (faster), and keep every answer with its time. */
function watchReadiness(service: RunningService): ReadinessWatch {
  const answers: { at: number; ready: boolean }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      const ready = await fetch(`${service.url}/ready`, { signal: AbortSignal.timeout(1_000) })
        .then(async (response) => {
          await response.arrayBuffer();
          return response.status === 200;
        })
        .catch(() => false);
      answers.push({ at, ready });
      await sleep(READINESS_POLL_MS);
    }
  })();
  return {
    firstNotReadyAfter: (since) => answers.find((answer) => answer.at >= since && !answer.ready)?.at,
    firstReadyAfter: (since) => answers.find((answer) => answer.at >= since && answer.ready)?.at,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function invoiceRequest(sequence: number): LoadRequest {
  return {
    method: 'POST',
    path: '/api/job',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'invoice.total',
      payload: {
        invoiceId: `outage-${sequence}`,
        currency: 'EUR',
        taxRatePercent: 7,
        lines: [{ sku: 'sku', quantity: 1 + (sequence % 5), unitPriceCents: 999 }],
      },
    }),
  };
}

describe('api + worker: Redis outage under load', () => {
  let redis: RedisServer;
  const services: RunningService[] = [];

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop('SIGKILL')));
    await redis?.stop();
  });

  it('answers 503 fast while Redis is down, recovers by itself, and loses no acknowledged job', async () => {
    const prefix = testQueuePrefix('outage');
    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' };
    const [api, worker] = await Promise.all([startService('api', { env }), startService('worker', { env })]);
    services.push(api, worker);
    const apiReadiness = watchReadiness(api);
    const workerReadiness = watchReadiness(worker);

    let killedAt = Number.NaN;
    let redisBackAt = Number.NaN;
    const outage = (async () => {
      await sleep(KILL_AT_MS);
      await redis.kill();
      killedAt = performance.now();
      await sleep(OUTAGE_MS);
      const alive = { api: api.process.exitCode === null, worker: worker.process.exitCode === null };
      await redis.restart();
      redisBackAt = performance.now();
      return alive;
    })();

    const load = await runOpenLoopLoad({
      route: () => api.url,
      ratePerSecond: RATE_PER_SECOND,
      durationMs: LOAD_MS,
      request: invoiceRequest,
      isSuccess: (status) => status === 202 || status === 503,
      timeoutMs: 5_000,
    });
    const aliveDuringOutage = await outage;
    await waitFor(
      'both services ready again',
      () =>
        apiReadiness.firstReadyAfter(redisBackAt) !== undefined &&
        workerReadiness.firstReadyAfter(redisBackAt) !== undefined,
      10_000,
    );
    await Promise.all([apiReadiness.stop(), workerReadiness.stop()]);

    // Times on one clock: the generator's record times are relative to its own start.
    const killedOnLoadClock = killedAt - load.startedAt;
    const backOnLoadClock = redisBackAt - load.startedAt;
    const duringOutage = load.records.filter(
      (record) => record.sentAtMs >= killedOnLoadClock && record.sentAtMs < backOnLoadClock,
    );
    const outageLatencies = duringOutage.map((record) => (record.answeredAtMs ?? Infinity) - record.sentAtMs);
    const acknowledged = load.records
      .filter((record) => record.status === 202)
      .map((record) => ({ id: (record.body as { id: string }).id, sentAtMs: record.sentAtMs }));

    const queue = openQueue(redis.url, prefix);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        'every acknowledged job completed',
        async () => (await queue.getCompletedCount()) >= acknowledged.length || undefined,
        30_000,
        200,
      );
      const states = await Promise.all(acknowledged.map(({ id }) => queue.getJobState(id)));
      const lost = acknowledged.filter((_, index) => states[index] !== 'completed');
      const effects = await Promise.all(
        acknowledged.map(({ id }) => client.exists(jobEffectKey(prefix, id))),
      );

      const seconds = (ms: number | undefined) =>
        ms === undefined ? 'never' : Number((ms / 1000).toFixed(2));
      const report = {
        requests: load.sent,
        acknowledgedBefore: acknowledged.filter((job) => job.sentAtMs < killedOnLoadClock).length,
        acknowledgedDuringOutage: acknowledged.filter(
          (job) => job.sentAtMs >= killedOnLoadClock && job.sentAtMs < backOnLoadClock,
        ).length,
        acknowledgedAfter: acknowledged.filter((job) => job.sentAtMs >= backOnLoadClock).length,
        answered503DuringOutage: duringOutage.filter((record) => record.status === 503).length,
        answered503AfterRestart: load.records.filter(
          (record) => record.sentAtMs >= backOnLoadClock && record.status === 503,
        ).length,
        slowestOutageAnswerMs: Math.round(Math.max(...outageLatencies)),
        apiNotReadyAfterKillS: seconds(apiReadiness.firstNotReadyAfter(killedAt)! - killedAt),
        workerNotReadyAfterKillS: seconds(workerReadiness.firstNotReadyAfter(killedAt)! - killedAt),
        apiReadyAfterRestartS: seconds(apiReadiness.firstReadyAfter(redisBackAt)! - redisBackAt),
        workerReadyAfterRestartS: seconds(workerReadiness.firstReadyAfter(redisBackAt)! - redisBackAt),
        failed: load.failures.length,
        lost: lost.length,
      };
      console.log(`Redis outage: ${JSON.stringify(report)}`);

      // Nothing but 202 or 503, every one answered; the outage was real (requests met it).
      expect(load.failures).toEqual([]);
      expect(duringOutage.length).toBeGreaterThan(RATE_PER_SECOND * (OUTAGE_MS / 1000) * 0.8);
      expect(duringOutage.filter((record) => record.status === 503).length).toBeGreaterThan(0);
      // 503 within a second, no hang.
      expect(Math.max(...outageLatencies)).toBeLessThan(1_000);
      const outage503s = duringOutage.filter((record) => record.status === 503);
      expect(
        outage503s.every((record) => typeof (record.body as { message?: unknown }).message === 'string'),
      ).toBe(true);
      // Readiness followed Redis down and back up, within 5 s each way; neither process exited.
      expect(apiReadiness.firstNotReadyAfter(killedAt)! - killedAt).toBeLessThan(5_000);
      expect(workerReadiness.firstNotReadyAfter(killedAt)! - killedAt).toBeLessThan(5_000);
      expect(apiReadiness.firstReadyAfter(redisBackAt)! - redisBackAt).toBeLessThan(5_000);
      expect(workerReadiness.firstReadyAfter(redisBackAt)! - redisBackAt).toBeLessThan(5_000);
      expect(aliveDuringOutage).toEqual({ api: true, worker: true });
      expect(api.process.exitCode).toBeNull();
      expect(worker.process.exitCode).toBeNull();
      // The API took jobs before the outage and after it: the recovery was real, not a dead API.
      expect(report.acknowledgedBefore).toBeGreaterThan(0);
      expect(report.acknowledgedAfter).toBeGreaterThan(0);
      // No acknowledged job lost: every one completed by the resumed worker, with its effect.
      expect(lost).toEqual([]);
      expect(effects.every((exists) => exists === 1)).toBe(true);
    } finally {
      client.disconnect();
      await queue.close();
    }
  });
});
