import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { JOB_QUEUE_NAME, jobEffectKey } from '@opsforge/common/job-contract';

/**
 * Watches a private Redis for the worker's job effects as they are *written*, not as they end up stored.
 *
 * The worker records an effect with SET NX under `jobEffectKey(prefix, jobId)`. Keyspace notifications emit a
 * `set` event only when a SET actually writes, so counting them per job id tells how many times each job's
 * effect really happened: a job run twice whose effect was not idempotent would show 2 here even though the
 * key holds one value. Only for a Redis the test owns: it changes `notify-keyspace-events`.
 */
export class JobEffectsProbe {
  private readonly writesByJob = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private totalWrites = 0;

  private constructor(private readonly subscriber: Redis) {}

  static async attach(redisUrl: string, queuePrefix: string): Promise<JobEffectsProbe> {
    const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      // K: keyspace channel per key; $: string commands (SET). Nothing else, to keep the stream small.
      await admin.config('SET', 'notify-keyspace-events', 'K$');
    } finally {
      admin.disconnect();
    }
    const effectKeyPrefix = jobEffectKey(queuePrefix, '');
    const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const probe = new JobEffectsProbe(subscriber);
    subscriber.on('pmessage', (_pattern: string, channel: string, event: string) => {
      if (event !== 'set') return;
      const key = channel.slice(channel.indexOf(':') + 1);
      const jobId = key.slice(effectKeyPrefix.length);
      probe.writesByJob.set(jobId, (probe.writesByJob.get(jobId) ?? 0) + 1);
      probe.totalWrites += 1;
      for (const listener of probe.listeners) listener();
    });
    // Glob-escape the prefix: its braces and the test prefix's characters are literal.
    const pattern = `__keyspace@0__:${effectKeyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    await subscriber.psubscribe(pattern);
    return probe;
  }

  get writes(): number {
    return this.totalWrites;
  }

  writesFor(jobId: string): number {
    return this.writesByJob.get(jobId) ?? 0;
  }

  /** Writes per job id so far, as a copy (to compare with the counts at a later moment). */
  counts(): Map<string, number> {
    return new Map(this.writesByJob);
  }

  /** Job ids whose effect was written more than once, with the count. */
  duplicated(): Map<string, number> {
    return new Map([...this.writesByJob].filter(([, count]) => count > 1));
  }

  /** Run `action` synchronously, from the notification handler, the moment the write count reaches `count`. */
  onWrites(count: number, action: () => void): void {
    if (this.totalWrites >= count) {
      action();
      return;
    }
    const listener = (): void => {
      if (this.totalWrites < count) return;
      this.listeners.delete(listener);
      action();
    };
    this.listeners.add(listener);
  }

  close(): void {
    this.subscriber.disconnect();
  }
}

/** The queue's own counts and lists, read straight from Redis with BullMQ's client. */
export function openQueue(redisUrl: string, queuePrefix: string): Queue {
  const url = new URL(redisUrl);
  return new Queue(JOB_QUEUE_NAME, {
    connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: 1 },
    prefix: queuePrefix,
  });
}
