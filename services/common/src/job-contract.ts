import { z } from 'zod';

/**
 * The job contract: the one place that says which jobs exist, what their payloads look like and how BullMQ
 * treats them. The API validates requests against it and the worker relies on it; neither copies it.
 */

export const JOB_QUEUE_NAME = 'jobs';

const invoiceLine = z.strictObject({
  sku: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(1_000_000),
  unitPriceCents: z.number().int().min(0).max(10_000_000_000),
});

/** Sum an invoice's lines, apply tax, store the totals: a small, realistic unit of background work. */
export const invoiceTotalPayload = z.strictObject({
  invoiceId: z.string().min(1).max(64),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
  taxRatePercent: z.number().min(0).max(100),
  lines: z.array(invoiceLine).min(1).max(500),
});

/**
 * Completes without an effect: the synthetic probe for the whole path API → Redis → worker → result, and the
 * unit the benchmark uses to measure the pipeline's own overhead. `holdMs` keeps the worker busy that long, for
 * rehearsing slow jobs (draining on SIGTERM, queue-age alerts) without touching real work.
 */
export const pingPayload = z.strictObject({
  note: z.string().max(200).optional(),
  holdMs: z.number().int().min(0).max(60_000).optional(),
});

export const jobPayloadSchemas = {
  'invoice.total': invoiceTotalPayload,
  ping: pingPayload,
} as const;

export type JobType = keyof typeof jobPayloadSchemas;
export const JOB_TYPES = Object.keys(jobPayloadSchemas) as JobType[];

export type InvoiceTotalPayload = z.infer<typeof invoiceTotalPayload>;
export type PingPayload = z.infer<typeof pingPayload>;
export type JobPayload<T extends JobType> = z.infer<(typeof jobPayloadSchemas)[T]>;

export interface InvoiceTotalResult {
  invoiceId: string;
  currency: string;
  lineCount: number;
  subtotalCents: number;
  taxCents: number;
  totalCents: number;
}

export interface PingResult {
  pong: true;
  note?: string;
}

/** What a BullMQ job of the queue carries; the job's name is its type. */
export interface JobData<T extends JobType = JobType> {
  payload: JobPayload<T>;
  /** The x-request-id of the HTTP request that created the job: one id finds its whole story in the logs. */
  requestId: string;
  /**
   * For a job created with an Idempotency-Key (the job id): the SHA-256 of the request's type and validated
   * payload, so a later request with the same key is told apart as a replay (same request) or a misuse (another
   * one). Kept as long as the job is. Absent on jobs created without a key.
   */
  requestFingerprint?: string;
}

/**
 * Defaults for every job. Exponential backoff with jitter spreads retries of jobs that failed together (a Redis
 * blip, a dependency outage) instead of retrying them in lockstep; 5 attempts spans about 15 s of trouble.
 * Completed jobs are kept a day so clients can read results back; failed jobs a week, for inspection. Each is
 * also capped at 10,000 jobs, whichever limit comes first, so retention has a size in Redis and not only an age:
 * at the measured 2.3 KB per completed job that is about 23 MiB each, some 46 MiB for both, against Redis'
 * 256 MiB maxmemory (docs/architecture.md, "What scales how"). Without the counts a busy day fills Redis.
 */
export const defaultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  // A failed job would otherwise keep one stack trace per attempt: measured 6.2 KB per job failed after 5
  // attempts, against 2.3 KB with the last one only. Every attempt's error is in the worker's log anyway.
  stackTraceLimit: 1,
} as const;

/**
 * Where the worker records a job's effect, keyed by job id so that a job run twice (a worker killed mid-job and
 * the job recovered as stalled) leaves one effect, not two. Under the queue prefix, hence in the same Redis
 * Cluster slot as the queue.
 */
export function jobEffectKey(queuePrefix: string, jobId: string): string {
  return `${queuePrefix}:effects:${jobId}`;
}

/** How long an effect record lives: as long as the completed job it belongs to. */
export const JOB_EFFECT_TTL_SECONDS = defaultJobOptions.removeOnComplete.age;

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `payload.lines.0.quantity`. */
  field: string;
  message: string;
}

export type JobRequestValidation =
  | { ok: true; type: JobType; payload: JobPayload<JobType> }
  | { ok: false; type: string | undefined; issues: FieldIssue[] };

const requestEnvelope = z.strictObject({
  type: z.string(),
  payload: z.unknown(),
});

function toFieldIssues(error: z.ZodError, prefix: string): FieldIssue[] {
  return error.issues.map((issue) => {
    // An unknown key names itself in `keys`, not in `path`: report the key as the field.
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys] : issue.path;
    return { field: [prefix, ...path.map(String)].filter(Boolean).join('.'), message: issue.message };
  });
}

/** Validate a `POST /api/job` body `{ type, payload }` against the contract, naming every bad field. */
export function validateJobRequest(body: unknown): JobRequestValidation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      ok: false,
      type: undefined,
      issues: [{ field: 'body', message: 'must be a JSON object { "type", "payload" }' }],
    };
  }
  const envelope = requestEnvelope.safeParse(body);
  const rawType = (body as { type?: unknown }).type;
  const type = typeof rawType === 'string' ? rawType : undefined;
  if (!envelope.success) return { ok: false, type, issues: toFieldIssues(envelope.error, '') };
  if (!(JOB_TYPES as string[]).includes(envelope.data.type)) {
    return {
      ok: false,
      type,
      issues: [
        {
          field: 'type',
          message: `unknown job type ${JSON.stringify(envelope.data.type)}; expected one of ${JOB_TYPES.join(', ')}`,
        },
      ],
    };
  }
  const jobType = envelope.data.type as JobType;
  const payload = jobPayloadSchemas[jobType].safeParse(envelope.data.payload);
  if (!payload.success) return { ok: false, type, issues: toFieldIssues(payload.error, 'payload') };
  return { ok: true, type: jobType, payload: payload.data };
}

/**
 * BullMQ job ids double as idempotency keys. BullMQ reserves all-digit ids for its own counter and uses `:` as
 * its key separator, so a client key must avoid both.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^(?!\d+$)[A-Za-z0-9_.-]{1,128}$/;
