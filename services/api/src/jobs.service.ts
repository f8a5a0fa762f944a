import { InjectQueue } from '@nestjs/bullmq';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import { type Job, type JobState, Queue } from 'bullmq';
import type { Counter } from 'prom-client';
import {
  ConflictException,
  Inject,
  Injectable,
  ServiceUnavailableException,
  UnprocessableEntityException,
} from '@nestjs/common';
import {
  CONFIG,
  type JobData,
  type JobPayload,
  JOB_QUEUE_NAME,
  type JobType,
  PRODUCER_COMMAND_TIMEOUT_MS,
  coalesceWritesThisTurn,
  REDIS_CLIENT,
  type RedisConnection,
  waitForReplicas,
  withTimeout,
} from '@opsforge/common';
import type { ApiConfig } from './config';
import { IdempotencyKeys, inFlightMarkerKey, requestFingerprint } from './idempotency';

const JOBS_ENQUEUED_TOTAL = 'jobs_enqueued_total';

export const jobsEnqueuedProvider = makeCounterProvider({
  name: JOBS_ENQUEUED_TOTAL,
  help: 'POST /api/job outcomes by job type: created, duplicate (the same request again with its Idempotency-Key, answered as the first time), in_flight (409: the first request with that key is still storing its job), key_reused (422: the key was used for a different request), rejected (validation), error (Redis unavailable).',
  labelNames: ['job_type', 'outcome'],
});

/** The answer to POST /api/job: the job's id, that this request created it, where to read its state. */
export interface EnqueueReceipt {
  id: string;
  status: 'created';
  links: { self: string };
}

/** A receipt, and whether it is the replay of an earlier request's answer (same Idempotency-Key and request). */
export interface EnqueueResult {
  receipt: EnqueueReceipt;
  replayed: boolean;
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

function receiptFor(id: string): EnqueueReceipt {
  return { id, status: 'created', links: { self: jobLink(id) } };
}

/** The API's side of the job contract: enqueue validated jobs, read their state back. */
@Injectable()
export class JobsService {
  private readonly idempotencyKeys: IdempotencyKeys;

  constructor(
    @InjectQueue(JOB_QUEUE_NAME) private readonly queue: Queue<JobData>,
    @InjectMetric(JOBS_ENQUEUED_TOTAL) private readonly enqueued: Counter<'job_type' | 'outcome'>,
    @Inject(REDIS_CLIENT) private readonly connection: RedisConnection,
    @Inject(CONFIG) private readonly config: ApiConfig,
  ) {
    this.idempotencyKeys = new IdempotencyKeys(connection);
  }

  countRejected(jobType: string | undefined): void {
    // Only contract job types become label values; anything a client invents is folded into one series.
    this.enqueued.inc({ job_type: jobType ?? 'invalid', outcome: 'rejected' });
  }

  /**
   * Enqueue a job. Without an idempotency key every request is a new job. With one, the key is the job id and the
   * request's fingerprint travels in the job (see idempotency.ts for the answers a reused key gets).
   */
  async enqueue<T extends JobType>(
    type: T,
    payload: JobPayload<T>,
    requestId: string,
    idempotencyKey?: string,
  ): Promise<EnqueueResult> {
    try {
      const result = idempotencyKey
        ? await this.enqueueOnce(type, payload, requestId, idempotencyKey)
        : await this.enqueueNew(type, { payload, requestId });
      if (this.config.REDIS_REPLICA_ACKS > 0) await this.replicated(result);
      this.enqueued.inc({ job_type: type, outcome: result.replayed ? 'duplicate' : 'created' });
      return result;
    } catch (error) {
      const outcome =
        error instanceof ConflictException
          ? 'in_flight'
          : error instanceof UnprocessableEntityException
            ? 'key_reused'
            : 'error';
      this.enqueued.inc({ job_type: type, outcome });
      throw error;
    }
  }

  private async enqueueNew(type: JobType, data: JobData, jobId?: string): Promise<EnqueueResult> {
    const added = await this.redis(
      () => this.queue.add(type, data, jobId === undefined ? {} : { jobId }),
      'enqueue',
    );
    return { receipt: receiptFor(String(added.id)), replayed: false };
  }

  private async enqueueOnce(
    type: JobType,
    payload: JobPayload<JobType>,
    requestId: string,
    key: string,
  ): Promise<EnqueueResult> {
    const fingerprint = requestFingerprint(type, payload);
    const marker = inFlightMarkerKey(this.config.QUEUE_PREFIX, key);
    const claim = await this.redis(
      () => this.idempotencyKeys.claim(this.queue.toKey(key), marker, fingerprint),
      'idempotency key check',
    );
    if (claim.state !== 'claimed' && claim.fingerprint !== fingerprint)
      throw new UnprocessableEntityException({
        message:
          `Idempotency-Key ${JSON.stringify(key)} was already used for a different request (job type or ` +
          'payload); a new request needs a new key',
        idempotencyKey: key,
        issues: [{ field: 'Idempotency-Key', message: 'already used for a different request' }],
      });
    if (claim.state === 'stored') return { receipt: receiptFor(key), replayed: true };
    if (claim.state === 'in-flight')
      throw new ConflictException({
        message: `a request with Idempotency-Key ${JSON.stringify(key)} is still being processed; retry shortly`,
        idempotencyKey: key,
        issues: [{ field: 'Idempotency-Key', message: 'a request with this key is in flight' }],
      });
    try {
      return await this.enqueueNew(type, { payload, requestId, requestFingerprint: fingerprint }, key);
    } finally {
      this.idempotencyKeys.release(marker);
    }
  }

  /**
   * With REDIS_REPLICA_ACKS > 0 a submission is acknowledged only once that many replicas have it (Redis WAIT), so
   * a failover that promotes one of them keeps it. Fewer in time: 503, and a retry with the same Idempotency-Key
   * answers for the job that may already exist instead of creating a second one. WAIT covers this connection's
   * own writes; a replayed answer may be for a job another API pod wrote, so it first writes a fence key in the
   * queue's slot: the replication stream is ordered, and a replica holding the fence holds that job too.
   */
  private async replicated(result: EnqueueResult): Promise<void> {
    const { REDIS_REPLICA_ACKS: required, REDIS_REPLICA_ACK_TIMEOUT_MS: timeoutMs } = this.config;
    const fence = this.queue.toKey('replication-fence');
    if (result.replayed)
      await this.redis(() => this.connection.set(fence, Date.now(), 'PX', 60_000), 'fence');
    const acknowledged = await this.redis(
      () => waitForReplicas(this.connection, fence, required, timeoutMs),
      'replicate',
    );
    if (acknowledged < required)
      throw new ServiceUnavailableException({
        message:
          `the job was not confirmed by ${required} Redis replica(s) within ${timeoutMs} ms (${acknowledged} ` +
          'did); retry with the same Idempotency-Key',
        dependency: 'redis',
      });
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
      coalesceWritesThisTurn(this.connection);
      return await withTimeout(call(), REDIS_CALL_BUDGET_MS, `Redis ${what}`);
    } catch (error) {
      throw new ServiceUnavailableException({
        message: `the job queue is unavailable (Redis did not answer: ${(error as Error).message}); retry later`,
        dependency: 'redis',
      });
    }
  }
}
