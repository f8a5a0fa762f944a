import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis every suite shares unless it runs its own (REDIS_URL, as `.ci/run` sets it). */
export function sharedRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/**
 * A QUEUE_PREFIX no other test run uses. Hash-tagged like the production default, so the keys behave as they
 * would on Redis Cluster.
 */
export function testQueuePrefix(label = 'test'): string {
  return `{opsforge-${label}-${process.pid}-${randomBytes(4).toString('hex')}}`;
}

/** Delete every key under `prefix` (queue, jobs, effects); returns how many were deleted. */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<number> {
  if (!/^\{opsforge-[^}]+\}$/.test(prefix))
    throw new Error(`refusing to delete keys of ${prefix}: not a test prefix`);
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let deleted = 0;
    // `*` is the only glob character a test prefix can contain after the braces; escape nothing else.
    const stream = redis.scanStream({ match: `${prefix}:*`, count: 500 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    }
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** A test's own queue on the shared Redis: what a service needs to use it, and how to leave Redis as found. */
export interface TestQueue {
  redisUrl: string;
  prefix: string;
  /** REDIS_URL and QUEUE_PREFIX, for a service started on this queue. */
  env: { REDIS_URL: string; QUEUE_PREFIX: string };
  /** Deletes every key under the prefix; call it after the services using the queue have stopped. */
  deleteKeys(): Promise<number>;
}

/** A queue under a fresh test prefix (`testQueuePrefix(label)`) on the shared Redis (`sharedRedisUrl()`). */
export function testQueue(label: string): TestQueue {
  const redisUrl = sharedRedisUrl();
  const prefix = testQueuePrefix(label);
  return {
    redisUrl,
    prefix,
    env: { REDIS_URL: redisUrl, QUEUE_PREFIX: prefix },
    deleteKeys: () => deleteQueueKeys(redisUrl, prefix),
  };
}
