import { Redis } from 'ioredis';
import { defaultJobOptions, type JobData } from '@opsforge/common/job-contract';
import { openQueue, useOwnRedis, testQueuePrefix, waitForJobCount } from '@opsforge/harness';

/**
 * What one job costs in Redis, waiting and completed (with its effect record and its share of BullMQ's event
 * stream), measured on a private redis-server with the contract's job options. The figures size `maxmemory`
 * against the retention counts (docs/architecture.md, "What scales how"); the bounds catch a change that makes
 * every job much heavier (a result that copies the payload, a bigger default retention of attempts' data).
 */

const JOB_COUNT = 5_000;
// Failed jobs take every attempt's backoff (about 15 s for the contract's 5) before they land in the failed set.
const FAILED_JOB_COUNT = 1_000;
// Redis' maxmemory in the manifests (gitops/base/redis); retained jobs may take at most a quarter of it, the rest
// is for the backlog of waiting jobs, the effect records and headroom before writes are refused.
const REDIS_MAXMEMORY_BYTES = 256 * 2 ** 20;
const RETAINED_JOBS_BUDGET_BYTES = REDIS_MAXMEMORY_BYTES / 4;

function invoiceJob(invoiceId: string) {
  return {
    name: 'invoice.total',
    data: {
      payload: {
        invoiceId,
        currency: 'EUR',
        taxRatePercent: 20,
        lines: [
          { sku: 'sku-1', quantity: 2, unitPriceCents: 1250 },
          { sku: 'shipping', quantity: 1, unitPriceCents: 495 },
        ],
      },
      requestId: '7f9c2ba4-e88f-4a4b-9d4f-0123456789ab',
    } satisfies JobData,
    opts: defaultJobOptions,
  };
}

async function usedMemory(client: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))![1]);
}

describe('Redis footprint of a job', () => {
  const redis = useOwnRedis();

  it(`stays within 2 KB per waiting and 4 KB per completed invoice job (${JOB_COUNT} jobs), and retention fits a quarter of maxmemory`, async () => {
    const prefix = testQueuePrefix('footprint');
    const queue = openQueue(redis.url, prefix);
    try {
      await queue.waitUntilReady();
      const empty = await usedMemory(redis.client);
      for (let start = 0; start < JOB_COUNT; start += 500) {
        await queue.addBulk(Array.from({ length: 500 }, (_, offset) => invoiceJob(`inv-${start + offset}`)));
      }
      const waiting = await usedMemory(redis.client);
      const worker = await redis.startService('worker', { env: { QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' } });
      await waitForJobCount(queue, 'completed', JOB_COUNT, 60_000);
      const completed = await usedMemory(redis.client);
      expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });

      // The same jobs failing every attempt: a failed job keeps a stack trace per attempt instead of a result.
      await queue.addBulk(
        Array.from({ length: FAILED_JOB_COUNT }, (_, index) => invoiceJob(`failing-${index}`)),
      );
      await redis.startService('worker', {
        env: {
          QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'error',
          WORKER_CONCURRENCY: '20',
          CHAOS_JOB_FAILURE_RATIO: '1',
        },
      });
      // Every one of them failed for good.
      await waitForJobCount(queue, 'failed', FAILED_JOB_COUNT, 90_000);
      const failed = await usedMemory(redis.client);

      const perWaitingJob = (waiting - empty) / JOB_COUNT;
      const perCompletedJob = (completed - empty) / JOB_COUNT;
      const perFailedJob = (failed - completed) / FAILED_JOB_COUNT;
      // The retention counts bound what finished jobs can hold in Redis.
      const retainedCompleted = defaultJobOptions.removeOnComplete.count;
      const retainedFailed = defaultJobOptions.removeOnFail.count;
      const retainedBytesAtMost = retainedCompleted * perCompletedJob + retainedFailed * perFailedJob;
      console.log(
        `Redis footprint: ${JSON.stringify({ jobs: JOB_COUNT, failedJobs: FAILED_JOB_COUNT, bytesPerWaitingJob: Math.round(perWaitingJob), bytesPerCompletedJob: Math.round(perCompletedJob), bytesPerFailedJob: Math.round(perFailedJob), retainedCompletedAtMost: retainedCompleted, retainedFailedAtMost: retainedFailed, retainedMebibytesAtMost: Math.round(retainedBytesAtMost / 2 ** 20), budgetMebibytes: RETAINED_JOBS_BUDGET_BYTES / 2 ** 20 })}`,
      );
      expect(perWaitingJob).toBeLessThan(2_048);
      expect(perCompletedJob).toBeLessThan(4_096);
      expect(retainedBytesAtMost).toBeLessThan(RETAINED_JOBS_BUDGET_BYTES);
    } finally {
      await queue.close();
    }
  });
});
