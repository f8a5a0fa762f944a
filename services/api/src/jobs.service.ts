import { InjectQueue } from '@nestjs/bullmq';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import { type Job, type JobState, Queue } from 'bullmq';
import type { Counter } from 'prom-client';
import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  type JobData,
  type JobPayload,
  JOB_QUEUE_NAME,
  type JobType,
  PRODUCER_COMMAND_TIMEOUT_MS,
  REDIS_CLIENT,
  withTimeout,
} from '@opsforge/common';

const JOBS_ENQUEUED_TOTAL = 'jobs_enqueued_total';

export const jobsEnqueuedProvider = makeCounterProvider({
  name: JOBS_ENQUEUED_TOTAL,
  help: 'POST /api/job outcomes by job type: created, duplicate (idempotency key seen before), rejected (validation), error (Redis unavailable).',
  labelNames: ['job_type', 'outcome'],
});

/** The answer to POST /api/job: the job's id, whether this request created it, where to read its state. */
export interface EnqueueReceipt {
  id: string;
  status: 'created' | 'duplicate';
  links: { self: string };
}

/** The answer to GET /api/job/:id. */
export interface JobView {
  id: string;
  type: string;
  state: JobState | 'unknown';
  attemptsMade: number;
  attempts: number;
  requestId: string | undefined;
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
  result?: unknown;
  failedReason?: string;
  links: { self: string };
}

// Every Redis round trip of a request is bounded: the connection's own command timeout covers commands that were
// sent; this covers the wait for a connection that is not there.
const REDIS_CALL_BUDGET_MS = PRODUCER_COMMAND_TIMEOUT_MS + 100;

function jobLink(id: string): string {
  return `/api/job/${encodeURIComponent(id)}`;
}

/** The API's side of the job contract: enqueue validated jobs, read their state back. */
@Injectable()
export class JobsService {
  constructor(
    @InjectQueue(JOB_QUEUE_NAME) private readonly queue: Queue<JobData>,
    @InjectMetric(JOBS_ENQUEUED_TOTAL) private readonly enqueued: Counter<'job_type' | 'outcome'>,
    @Inject(REDIS_CLIENT) private readonly connection: Redis,
  ) {}

  countRejected(jobType: string | undefined): void {
    // Only contract job types become label values; anything a client invents is folded into one series.
    this.enqueued.inc({ job_type: jobType ?? 'invalid', outcome: 'rejected' });
  }

  /**
   * Enqueue a job. With an idempotency key the key is the BullMQ job id, so BullMQ itself refuses a second job
   * with it; reading the stored job back tells whether this request created it or replayed an earlier one.
   */
  async enqueue<T extends JobType>(
    type: T,
    payload: JobPayload<T>,
    requestId: string,
    idempotencyKey?: string,
  ): Promise<EnqueueReceipt> {
    try {
      const added = await this.redis(
        () => this.queue.add(type, { payload, requestId }, idempotencyKey ? { jobId: idempotencyKey } : {}),
        'enqueue',
      );
      let stored: Job<JobData> | undefined = added;
      if (idempotencyKey)
        stored = (await this.redis(() => this.queue.getJob(idempotencyKey), 'read back')) ?? added;
      const duplicate = stored.timestamp !== added.timestamp || stored.data.requestId !== requestId;
      const status = duplicate ? 'duplicate' : 'created';
      this.enqueued.inc({ job_type: type, outcome: status });
      const id = String(stored.id);
      return { id, status, links: { self: jobLink(id) } };
    } catch (error) {
      this.enqueued.inc({ job_type: type, outcome: 'error' });
      throw error;
    }
  }

  async find(id: string): Promise<JobView | undefined> {
    // State first, then the job hash: BullMQ moves a job and updates its hash in one script, so a hash read after
    // the state is at least as new as the state (the other order can show "failed" with the previous attempt count).
    const state = await this.redis(() => this.queue.getJobState(id), 'read state');
    const job = await this.redis(() => this.queue.getJob(id), 'read');
    return job ? this.view(job, state) : undefined;
  }

  private view(job: Job<JobData>, state: JobState | 'unknown'): JobView {
    const id = String(job.id);
    return {
      id,
      type: job.name,
      state,
      attemptsMade: job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      requestId: job.data?.requestId,
      createdAt: new Date(job.timestamp).toISOString(),
      processedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      ...(state === 'completed' ? { result: job.returnvalue } : {}),
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      links: { self: jobLink(id) },
    };
  }

  private async redis<T>(call: () => Promise<T>, what: string): Promise<T> {
    try {
      // Before the first connection BullMQ waits for Redis instead of failing: a call made then would run
      // whenever Redis appears, long after this request answered 503. Refuse instead of starting it.
      if (this.connection.status !== 'ready') throw new Error(`connection is ${this.connection.status}`);
      return await withTimeout(call(), REDIS_CALL_BUDGET_MS, `Redis ${what}`);
    } catch (error) {
      throw new ServiceUnavailableException({
        message: `the job queue is unavailable (Redis did not answer: ${(error as Error).message}); retry later`,
        dependency: 'redis',
      });
    }
  }
}
