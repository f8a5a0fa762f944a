import { setTimeout as sleep } from 'node:timers/promises';
import { jobEffectKey } from '../src/job-contract';
import {
  acknowledgedJobs,
  type FaultUnderLoad,
  jobSubmission,
  type LoadRequest,
  openQueue,
  useOwnRedis,
  type RunningService,
  SHORT_STALL_TIMERS,
  submitJobsThroughFault,
  testQueuePrefix,
  waitFor,
} from '@opsforge/harness';

/**
 * Redis dies under load and comes back. Against the real built api and worker on a private redis-server with
 * AOF and production's `appendfsync everysec` (gitops/base/redis), killed with SIGKILL mid-load and restarted
 * on the same port from its AOF:
 *
 * - `/ready` of both services turns 503 within 5 s; `POST /api/job` answers 503 within 1 s, never hangs;
 *   neither process exits.
 * - After the restart both are ready again within 5 s, the worker resumes, and every job the API acknowledged
 *   (202), before, during or after the outage, is completed: none lost.
 */

/** Invoice submissions for 12 s; Redis is killed 2.5 s in. */
const OUTAGE: FaultUnderLoad = { ratePerSecond: 50, durationMs: 12_000, faultAtMs: 2_500 };
const OUTAGE_MS = 4_000;
const READINESS_POLL_MS = 100;
// Jobs that are certainly active when Redis dies: they finish their hold during the outage, cannot be marked
// completed, and must come back through the stalled-job path, every run, not only when the kill happens to
// land on an invoice job in flight.
const HELD_JOBS = 3;
const HOLD_MS = 2_000;
// Reconnecting (the worker retries about every second) and processing what queued up during the outage.
const RESUME_MARGIN_MS = 5_000;
// Jobs active in the worker when Redis died cannot be marked completed; they stay `active` in Redis until their
// lock expires, and the stalled-job check moves them back to waiting on the second pass that finds them
// unlocked. With the worker's short stall timers that is a known bound (BullMQ's 30 s defaults took up to a
// minute after the restart, and the wait below once timed out).
const STALLED_RECOVERY_BOUND_MS =
  SHORT_STALL_TIMERS.lockDurationMs + 2 * SHORT_STALL_TIMERS.stalledIntervalMs + HOLD_MS + RESUME_MARGIN_MS;

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
  return jobSubmission('invoice.total', {
    invoiceId: `outage-${sequence}`,
    currency: 'EUR',
    taxRatePercent: 7,
    lines: [{ sku: 'sku', quantity: 1 + (sequence % 5), unitPriceCents: 999 }],
  });
}

describe('api + worker: Redis outage under load', () => {
  const redis = useOwnRedis({ appendOnly: true, appendFsync: 'everysec' });

  it('answers 503 fast while Redis is down, recovers by itself, and loses no acknowledged job', async () => {
    const prefix = testQueuePrefix('outage');
    const env = { QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' };
    const [api, worker] = await Promise.all([
      redis.startService('api', { env }),
      redis.startService('worker', { env: { ...env, ...SHORT_STALL_TIMERS.env } }),
    ]);
    const apiReadiness = watchReadiness(api);
    const workerReadiness = watchReadiness(worker);

    const queue = openQueue(redis.url, prefix);
    // It lives through the outage: its connection errors are expected, and unlistened they would throw.
    queue.on('error', () => undefined);
    const heldJobIds: string[] = [];
    let killedAt = Number.NaN;
    let redisBackAt = Number.NaN;
    let redisBackAtEpochMs = Number.NaN;
    const redisOutage = async () => {
      for (let index = 0; index < HELD_JOBS; index++) {
        const response = await fetch(`${api.url}/api/job`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'ping', payload: { note: `held-${index}`, holdMs: HOLD_MS } }),
        });
        expect(response.status).toBe(202);
        heldJobIds.push(((await response.json()) as { id: string }).id);
      }
      await waitFor(
        'the held jobs to be active',
        async () =>
          (await Promise.all(heldJobIds.map((id) => queue.getJobState(id)))).every(
            (state) => state === 'active',
          ) || undefined,
        2_000,
        20,
      );
      await redis.server.kill();
      killedAt = performance.now();
      await sleep(OUTAGE_MS);
      const alive = { api: api.process.exitCode === null, worker: worker.process.exitCode === null };
      await redis.server.restart();
      redisBackAt = performance.now();
      redisBackAtEpochMs = Date.now();
      return alive;
    };
    const {
      load,
      outcome: aliveDuringOutage,
      onLoadClock,
    } = await submitJobsThroughFault(api, { ...OUTAGE, request: invoiceRequest }, redisOutage);
    await waitFor(
      'both services ready again',
      () =>
        apiReadiness.firstReadyAfter(redisBackAt) !== undefined &&
        workerReadiness.firstReadyAfter(redisBackAt) !== undefined,
      10_000,
    );
    await Promise.all([apiReadiness.stop(), workerReadiness.stop()]);

    // Times on one clock: the generator's record times are relative to its own start.
    const killedOnLoadClock = onLoadClock(killedAt);
    const backOnLoadClock = onLoadClock(redisBackAt);
    const acknowledged = acknowledgedJobs(load);
    const duringOutage = load.records.filter(
      (record) => record.sentAtMs >= killedOnLoadClock && record.sentAtMs < backOnLoadClock,
    );
    const outageLatencies = duringOutage.map((record) => (record.answeredAtMs ?? Infinity) - record.sentAtMs);

    try {
      await waitFor(
        'every acknowledged job completed',
        async () => (await queue.getCompletedCount()) >= acknowledged.length + HELD_JOBS || undefined,
        30_000,
        200,
      );
      // When the last job acknowledged before the kill (the held ones included) finished, by the worker's clock
      // (BullMQ's finishedOn, epoch ms, same machine): those are the ones that can have been active when Redis
      // died. The jobs
      // acknowledged after the restart keep arriving until the load ends and say nothing about recovery.
      const finishedOn = await Promise.all(
        [
          ...acknowledged.filter((job) => job.sentAtMs < killedOnLoadClock).map(({ id }) => id),
          ...heldJobIds,
        ].map(async (id) => (await queue.getJob(id))?.finishedOn ?? Infinity),
      );
      const preOutageJobsDoneAfterRestartMs = Math.max(0, ...finishedOn) - redisBackAtEpochMs;
      const recoveredAsStalled = worker.logs.filter((line) => String(line.msg).includes('stalled')).length;
      const states = await Promise.all(acknowledged.map(({ id }) => queue.getJobState(id)));
      const lost = acknowledged.filter((_, index) => states[index] !== 'completed');
      const heldStates = await Promise.all(heldJobIds.map((id) => queue.getJobState(id)));
      const effects = await Promise.all(
        acknowledged.map(({ id }) => redis.client.exists(jobEffectKey(prefix, id))),
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
        recoveredAsStalled,
        preOutageJobsDoneAfterRestartS: seconds(preOutageJobsDoneAfterRestartMs),
      };
      console.log(`Redis outage: ${JSON.stringify(report)}`);

      // Nothing but 202 or 503, every one answered; the outage was real (requests met it).
      expect(load.failures).toEqual([]);
      expect(duringOutage.length).toBeGreaterThan(OUTAGE.ratePerSecond * (OUTAGE_MS / 1000) * 0.8);
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
      // The jobs active at the kill went through the stalled path and completed.
      expect(heldStates).toEqual(heldJobIds.map(() => 'completed'));
      expect(recoveredAsStalled).toBeGreaterThanOrEqual(HELD_JOBS);
      // ...within lock expiry + two stalled checks + reconnecting of the restart, not whenever BullMQ's
      // defaults allow.
      expect(preOutageJobsDoneAfterRestartMs).toBeLessThan(STALLED_RECOVERY_BOUND_MS);
    } finally {
      await queue.close();
    }
  });
});
