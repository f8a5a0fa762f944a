import { HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type FieldIssue,
  IDEMPOTENCY_KEY_PATTERN,
  type JobPayload,
  type JobType,
  validateJobRequest,
} from '@opsforge/common';
import type { EnqueueReceipt, JobsService } from './jobs.service';

type JobRequestReading =
  | { ok: true; type: JobType; payload: JobPayload<JobType>; idempotencyKey: string | undefined }
  | {
      ok: false;
      status: HttpStatus;
      /** The job type for the rejected-jobs metric, when the request named a valid one. */
      jobType: string | undefined;
      message: string;
      issues: FieldIssue[];
    };

const IDEMPOTENCY_KEY_RULE = '1 to 128 characters of letters, digits, _ . -, not all digits';

/** Everything the API checks in a `POST /api/job` before it touches Redis, in the order a client fixes it. */
function readJobRequest(
  contentType: string | undefined,
  idempotencyKey: string | undefined,
  body: unknown,
): JobRequestReading {
  // Fastify also parses text/plain; a job is JSON only.
  if (!contentType || !/^application\/json\s*(;|$)/i.test(contentType))
    return {
      ok: false,
      status: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
      jobType: undefined,
      message: 'content-type must be application/json',
      issues: [{ field: 'content-type', message: 'must be application/json' }],
    };
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey))
    return {
      ok: false,
      status: HttpStatus.BAD_REQUEST,
      jobType: undefined,
      message: `Idempotency-Key must be ${IDEMPOTENCY_KEY_RULE}`,
      issues: [{ field: 'Idempotency-Key', message: `must be ${IDEMPOTENCY_KEY_RULE}` }],
    };
  const validation = validateJobRequest(body);
  if (!validation.ok)
    return {
      ok: false,
      status: HttpStatus.BAD_REQUEST,
      jobType: validation.issues.every((issue) => issue.field !== 'type') ? validation.type : undefined,
      message: validation.issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '),
      issues: validation.issues,
    };
  return { ok: true, type: validation.type, payload: validation.payload, idempotencyKey };
}

/**
 * `POST /api/job`, registered on Fastify directly (http-edge.ts), not as a Nest controller method: Nest's
 * per-request path (router proxy, parameter decorators, execution context, result handling) sat between
 * Fastify and this handler, which needs none of it, at about a tenth of the API's CPU per submission
 * (docs/benchmarks.md). Every Fastify hook still runs, and a rejection still reaches Nest's exception handling
 * and the JSON error filter, so answers, headers and error bodies are the controller's.
 */
export function submitJob(jobs: JobsService) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<EnqueueReceipt> => {
    const reading = readJobRequest(
      request.headers['content-type'],
      // A string: Node joins a repeated header into one value (only set-cookie is an array).
      request.headers['idempotency-key'] as string | undefined,
      request.body,
    );
    if (!reading.ok) {
      jobs.countRejected(reading.jobType);
      throw new HttpException({ message: reading.message, issues: reading.issues }, reading.status);
    }
    const { receipt, replayed } = await jobs.enqueue(
      reading.type,
      reading.payload,
      request.id,
      reading.idempotencyKey,
    );
    void reply.code(202).header('location', receipt.links.self);
    // The same request again gets the first answer, flagged so a client can tell (as Stripe does).
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return receipt;
  };
}
