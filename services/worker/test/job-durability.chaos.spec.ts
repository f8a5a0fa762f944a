import { jobEffectKey, JOB_QUEUE_NAME, defaultJobOptions, type JobData } from '@opsforge/common/job-contract';
import {
  JobEffectsProbe,
  openQueue,
  useOwnRedis,
  type RunningService,
  SHORT_STALL_TIMERS,
  testQueuePrefix,
  waitFor,
  waitForJobCount,
} from '@opsforge/harness';

/**
 * What happens to jobs when the worker dies. Against the real built api and worker on a private redis-server:
 *
 * - `kill -9` while busy: jobs the dead worker held come back (BullMQ's stalled-job check) and a new worker
 *   completes every acknowledged job; the job's effect is written exactly once per job id, even for jobs
 *   whose effect was already written when the worker died.
 * - SIGTERM mid-job: active jobs finish, the rest stay queued, the process exits 0 within the bound; a job
 *   longer than the bound is left active for another worker, not failed or dropped.
 */

const JOB_COUNT = 1_000;
const WORKER_CONCURRENCY = 5;
// The dead worker's jobs come back once their lock expires and the stalled-job check has seen them unlocked
// twice: with BullMQ's 30 s defaults this experiment waited about 90 s for that alone.
const STALL_TIMERS = SHORT_STALL_TIMERS.env;

function invoice(index: number) {
  return {
    type: 'invoice.total',
    payload: {
      invoiceId: `inv-${index}`,
      currency: 'EUR',
      taxRatePercent: 19.25,
      lines: [
        { sku: `sku-${index}`, quantity: 1 + (index % 7), unitPriceCents: 100 + index },
        { sku: 'shipping', quantity: 1, unitPriceCents: 495 },
      ],
    },
  };
}

/** POST every body with a few requests in flight; returns the job ids the API acknowledged (202). */
async function enqueueThroughApi(api: RunningService, count: number, parallel = 16): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const index = next++;
        const response = await fetch(`${api.url}/api/job`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(invoice(index)),
        });
        const body = (await response.json()) as { id?: string };
        if (response.status !== 202 || !body.id) failures.push(`${response.status} ${JSON.stringify(body)}`);
        else ids[index] = body.id;
      }
    }),
  );
  if (failures.length > 0)
    throw new Error(`${failures.length} jobs were not accepted, first: ${failures[0]}`);
  return ids;
}

interface JobReadBack {
  id: string;
  state: string;
  result?: unknown;
}

async function readJobs(api: RunningService, ids: string[], parallel = 16): Promise<JobReadBack[]> {
  const jobs: JobReadBack[] = new Array(ids.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ids.length) {
        const index = next++;
        const response = await fetch(`${api.url}/api/job/${encodeURIComponent(ids[index])}`);
        jobs[index] =
          response.status === 200
            ? ((await response.json()) as JobReadBack)
            : { id: ids[index], state: `http ${response.status}` };
      }
    }),
  );
  return jobs;
}

describe('worker: no job lost when the worker dies', () => {
  const redis = useOwnRedis();

  function start(
    name: 'api' | 'worker',
    prefix: string,
    env: Record<string, string> = {},
    waitUntil: 'ready' | 'none' = 'ready',
  ): Promise<RunningService> {
    return redis.startService(name, {
      env: {
        QUEUE_PREFIX: prefix,
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        LOG_LEVEL: 'warn',
        ...env,
      },
      waitUntil,
    });
  }

  it(`kill -9 while busy with ${JOB_COUNT} jobs: every acknowledged job completes, each effect is written once`, async () => {
    const prefix = testQueuePrefix('kill9');
    const probe = await JobEffectsProbe.attach(redis.url, prefix);
    const queue = openQueue(redis.url, prefix);
    try {
      const api = await start('api', prefix);
      const ids = await enqueueThroughApi(api, JOB_COUNT);

      // Kill the first worker from inside the effect notification handler once a quarter of the effects are
      // written: mid-stream, with jobs active, some of them past their effect but not yet marked completed.
      const firstWorker = await start('worker', prefix, STALL_TIMERS, 'none');
      let killedAt = 0;
      const killed = new Promise<void>((resolve) =>
        probe.onWrites(JOB_COUNT / 4, () => {
          firstWorker.process.kill('SIGKILL');
          killedAt = performance.now();
          resolve();
        }),
      );
      // A worker that dies on its own before doing the work would leave the test waiting for writes forever.
      const diedFirst = firstWorker.exited.then((exit) =>
        Promise.reject(
          new Error(
            `the worker exited before it was killed: ${JSON.stringify(exit)}\n${firstWorker.rawOutput.join('\n')}`,
          ),
        ),
      );
      await Promise.race([killed, diedFirst]);
      diedFirst.catch(() => undefined);
      expect(await firstWorker.exited).toEqual({ code: null, signal: 'SIGKILL' });
      const heldAtKill = await redis.client.lrange(`${prefix}:${JOB_QUEUE_NAME}:active`, 0, -1);
      const effectsAtKill = new Set(ids.filter((id) => probe.writesFor(id) > 0));
      const completedAtKill = await queue.getCompletedCount();
      const effectWrittenButNotCompleted = heldAtKill.filter((id) => effectsAtKill.has(id));

      // The jobs the dead worker held stay `active` until their lock expires; a new worker's stalled-job check
      // then moves them back to `waiting`. That is the only wait in this test.
      const replacement = await start('worker', prefix, STALL_TIMERS);
      const replacementStartedAt = performance.now();
      await waitForJobCount(queue, 'completed', JOB_COUNT, 60_000);
      const allCompletedAt = performance.now();

      const jobs = await readJobs(api, ids);
      const notCompleted = jobs.filter((job) => job.state !== 'completed');
      const effectKeys = await Promise.all(ids.map((id) => redis.client.get(jobEffectKey(prefix, id))));
      const missingEffects = ids.filter((_, index) => effectKeys[index] === null);
      const effectMismatches = ids.filter(
        (_, index) => effectKeys[index] !== null && effectKeys[index] !== JSON.stringify(jobs[index].result),
      );
      const duplicated = probe.duplicated();

      const report = {
        jobs: JOB_COUNT,
        completedBeforeKill: completedAtKill,
        activeAtKill: heldAtKill.length,
        effectWrittenButNotCompletedAtKill: effectWrittenButNotCompleted.length,
        lost: notCompleted.length + missingEffects.length,
        duplicatedEffects: [...duplicated.values()].reduce((sum, count) => sum + count - 1, 0),
        secondsFromKillToAllCompleted: Number(((allCompletedAt - killedAt) / 1000).toFixed(1)),
        secondsFromReplacementStartToAllCompleted: Number(
          ((allCompletedAt - replacementStartedAt) / 1000).toFixed(1),
        ),
      };
      console.log(`kill -9 durability: ${JSON.stringify(report)}`);

      // The kill really happened mid-work, or the experiment proved nothing.
      expect(heldAtKill.length).toBeGreaterThan(0);
      expect(completedAtKill).toBeLessThan(JOB_COUNT);
      expect(notCompleted).toEqual([]);
      expect(missingEffects).toEqual([]);
      expect(effectMismatches).toEqual([]);
      expect([...duplicated]).toEqual([]);
      expect(probe.writes).toBe(JOB_COUNT);
      expect(await queue.getFailedCount()).toBe(0);
      // The orphaned jobs went through BullMQ's stalled path and the replacement said so.
      await replacement.waitForLog(
        (line) => typeof line.msg === 'string' && line.msg.includes('stalled'),
        1_000,
      );
      expect(await replacement.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      probe.close();
      await queue.close();
    }
  });

  it('SIGTERM mid-job: active jobs finish within the bound, the rest stay queued, exit 0', async () => {
    const prefix = testQueuePrefix('sigterm');
    const queue = openQueue(redis.url, prefix);
    const holdMs = 2_000;
    const shutdownTimeoutMs = 10_000;
    try {
      // Straight into the queue with the contract's default options, as the API adds them. Each job keeps the
      // worker busy for holdMs, so the signal certainly lands in the middle of jobs.
      const ids = Array.from({ length: 4 * WORKER_CONCURRENCY }, (_, index) => `drain-${index}`);
      await queue.addBulk(
        ids.map((id) => ({
          name: 'ping',
          data: { payload: { holdMs }, requestId: `req-${id}` } satisfies JobData,
          opts: { ...defaultJobOptions, jobId: id },
        })),
      );
      const worker = await start('worker', prefix, {
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        LOG_LEVEL: 'info',
      });
      const activeAtSignal = await waitFor(
        'the worker to be busy with a full set of jobs',
        async () => {
          const active = await queue.getActive();
          return active.length === WORKER_CONCURRENCY && active.every((job) => job.processedOn)
            ? active.map((job) => String(job.id))
            : undefined;
        },
        10_000,
        20,
      );
      const signalledAt = performance.now();
      worker.process.kill('SIGTERM');
      // Readiness fails first: nothing should route work to a draining worker.
      const readyWhileDraining = await fetch(`${worker.url}/ready`)
        .then((response) => response.status)
        .catch(() => 'refused');
      const exit = await worker.exited;
      const exitAfterMs = performance.now() - signalledAt;

      const states = await Promise.all(ids.map(async (id) => [id, await queue.getJobState(id)] as const));
      const completed = states.filter(([, state]) => state === 'completed').map(([id]) => id);
      const waiting = states.filter(([, state]) => state === 'waiting').map(([id]) => id);
      console.log(
        `worker SIGTERM drain: ${JSON.stringify({ jobs: ids.length, holdMs, activeAtSignal: activeAtSignal.length, exit, exitAfterMs: Math.round(exitAfterMs), completed: completed.length, waiting: waiting.length, readyWhileDraining })}`,
      );

      expect(exit).toEqual({ code: 0, signal: null });
      expect(readyWhileDraining).not.toBe(200);
      // It waited for the jobs in hand (they were held for up to holdMs), and no longer than the bound.
      expect(exitAfterMs).toBeLessThan(shutdownTimeoutMs);
      expect(completed.sort()).toEqual([...activeAtSignal].sort());
      expect(waiting.sort()).toEqual(ids.filter((id) => !activeAtSignal.includes(id)).sort());
      expect(worker.logs.some((line) => line.msg === 'drained: every active job finished')).toBe(true);
    } finally {
      await queue.close();
    }
  });

  it('SIGTERM with a job longer than the bound: exits 0 in time and leaves the job to be retried, not lost', async () => {
    const prefix = testQueuePrefix('sigterm-bound');
    const queue = openQueue(redis.url, prefix);
    const shutdownTimeoutMs = 1_000;
    try {
      await queue.add('ping', { payload: { holdMs: 30_000 }, requestId: 'req-too-long' } satisfies JobData, {
        ...defaultJobOptions,
        jobId: 'too-long',
      });
      const worker = await start('worker', prefix, {
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        LOG_LEVEL: 'info',
      });
      await waitFor(
        'the long job to start',
        async () => (await queue.getJobState('too-long')) === 'active' || undefined,
        10_000,
        20,
      );
      const signalledAt = performance.now();
      const exit = await worker.stop('SIGTERM');
      const exitAfterMs = performance.now() - signalledAt;
      console.log(
        `worker SIGTERM past the bound: ${JSON.stringify({ shutdownTimeoutMs, exit, exitAfterMs: Math.round(exitAfterMs), jobState: await queue.getJobState('too-long') })}`,
      );

      expect(exit).toEqual({ code: 0, signal: null });
      // Within the bound plus the time to close connections: well inside terminationGracePeriodSeconds.
      expect(exitAfterMs).toBeGreaterThanOrEqual(shutdownTimeoutMs);
      expect(exitAfterMs).toBeLessThan(shutdownTimeoutMs + 3_000);
      // Not failed, not removed: still `active`, so the stalled-job check hands it to the next worker (the
      // kill -9 experiment above shows that path completing every job).
      expect(await queue.getJobState('too-long')).toBe('active');
      expect(worker.logs.some((line) => line.msg === 'closed with jobs still active')).toBe(true);
    } finally {
      await queue.close();
    }
  });
});
