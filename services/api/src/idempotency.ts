import { createHash } from 'node:crypto';
import stableStringify from 'safe-stable-stringify';
import type { JobData, JobType, RedisConnection } from '@opsforge/common';

/**
 * `Idempotency-Key` as the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-header, "Idempotency
 * Enforcement Scenarios" and "Error Scenarios") and Stripe describe it. The key is the BullMQ job id, and the job
 * carries a fingerprint of the request that created it, stored by BullMQ's own add script in the same write as
 * the job: the key is bound to that request for exactly as long as the job is retained.
 *
 * - first request with a key: the job is created (202);
 * - the same request again after that: the first answer again (202, `Idempotent-Replayed: true`), no new job;
 * - another request (other type or payload) with a used key: 422, the key names a different request;
 * - the same key while the first request has not stored its job yet: 409, retry shortly; never a second job.
 */

/** SHA-256 of the job type and validated payload, keys sorted: the same request however its JSON was written. */
export function requestFingerprint(type: string, payload: unknown): string {
  return createHash('sha256')
    .update(stableStringify({ type, payload }) ?? '')
    .digest('hex');
}

// How long a request holds its key before its job is stored. Its Redis calls are bounded well below this (the
// producer's command timeout), and it releases the key itself on failure; the expiry only covers a process that
// died in between, after which a retry proceeds.
export const IN_FLIGHT_MARKER_TTL_MS = 5000;

/** Where a request marks its key while it stores the job; under the queue prefix, in the queue's Cluster slot. */
export function inFlightMarkerKey(queuePrefix: string, idempotencyKey: string): string {
  return `${queuePrefix}:idempotency-in-flight:${idempotencyKey}`;
}

// One round trip, atomic: the stored job wins (its fingerprint answers), else whoever holds the marker (its
// fingerprint answers), else this request takes the marker. The job hash is BullMQ's (`name`, `data` fields).
const CLAIM_KEY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'stored', redis.call('HGET', KEYS[1], 'name') or '', redis.call('HGET', KEYS[1], 'data') or ''}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'claimed'}
end
return {'in-flight', redis.call('GET', KEYS[2]) or ''}
`;

export type KeyClaim =
  | { state: 'claimed' }
  | { state: 'stored'; fingerprint: string }
  | { state: 'in-flight'; fingerprint: string };

// A single Redis or a Cluster client: both take defineCommand, and the claim's two keys share the queue's slot.
type ClaimingRedis = RedisConnection & {
  claimIdempotencyKey(
    jobKey: string,
    markerKey: string,
    fingerprint: string,
    ttlMs: number,
  ): Promise<string[]>;
};

/** The fingerprint of a stored job: its own, or, for a job stored without one, derived from its type and payload. */
function storedFingerprint(name: string, rawData: string): string {
  try {
    const data = JSON.parse(rawData) as Partial<JobData>;
    return data.requestFingerprint ?? requestFingerprint(name as JobType, data.payload);
  } catch {
    return '';
  }
}

export class IdempotencyKeys {
  private readonly redis: ClaimingRedis;

  constructor(redis: RedisConnection) {
    if (!('claimIdempotencyKey' in redis))
      redis.defineCommand('claimIdempotencyKey', { numberOfKeys: 2, lua: CLAIM_KEY_SCRIPT });
    this.redis = redis as ClaimingRedis;
  }

  async claim(jobKey: string, markerKey: string, fingerprint: string): Promise<KeyClaim> {
    const [state, ...rest] = await this.redis.claimIdempotencyKey(
      jobKey,
      markerKey,
      fingerprint,
      IN_FLIGHT_MARKER_TTL_MS,
    );
    if (state === 'claimed') return { state };
    if (state === 'stored') return { state, fingerprint: storedFingerprint(rest[0], rest[1]) };
    return { state: 'in-flight', fingerprint: rest[0] };
  }

  /** Once the job is stored (or could not be) the marker has no more say: the job, if any, answers. */
  release(markerKey: string): void {
    this.redis.del(markerKey).catch(() => undefined);
  }
}
