import { Inject, Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import {
  CONFIG,
  JOB_QUEUE_NAME,
  PRODUCER_COMMAND_TIMEOUT_MS,
  REDIS_CLIENT,
  type RedisConnection,
  withTimeout,
} from '@opsforge/common';
import type { ApiConfig } from './config';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
type QueueCounts = Record<(typeof QUEUE_STATES)[number], number>;

// Status pages get polled by dashboards and humans alike; counts up to a second old spare Redis the herd.
const COUNTS_MAX_AGE_MS = 1000;

interface StatusView {
  service: string;
  version: string;
  uptimeSeconds: number;
  queue: { name: string; counts: QueueCounts | null; error?: string };
}

/**
 * The body of `GET /api/status`: who is running, and the queue's counts (or why Redis could not give them).
 * The route itself is registered on Fastify directly, in http-edge.ts, which says why.
 */
@Injectable()
export class StatusService {
  private cachedCounts: { at: number; counts: QueueCounts } | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: ApiConfig,
    @InjectQueue(JOB_QUEUE_NAME) private readonly queue: Queue,
    @Inject(REDIS_CLIENT) private readonly connection: RedisConnection,
  ) {}

  async report(): Promise<StatusView> {
    const base = {
      service: this.config.app,
      version: this.config.version,
      uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
    };
    try {
      return { ...base, queue: { name: JOB_QUEUE_NAME, counts: await this.counts() } };
    } catch (error) {
      // The status page stays useful during an outage: it says what is wrong instead of failing as a whole.
      return {
        ...base,
        queue: {
          name: JOB_QUEUE_NAME,
          counts: null,
          error: `Redis unavailable: ${(error as Error).message}`,
        },
      };
    }
  }

  private async counts(): Promise<QueueCounts> {
    // Before the first connection BullMQ would wait for Redis rather than fail; answer at once instead.
    if (this.connection.status !== 'ready') throw new Error(`connection is ${this.connection.status}`);
    const now = Date.now();
    if (this.cachedCounts && now - this.cachedCounts.at < COUNTS_MAX_AGE_MS) return this.cachedCounts.counts;
    const raw = await withTimeout(
      this.queue.getJobCounts(...QUEUE_STATES),
      PRODUCER_COMMAND_TIMEOUT_MS + 100,
      'Redis job counts',
    );
    const counts = Object.fromEntries(QUEUE_STATES.map((state) => [state, raw[state] ?? 0])) as QueueCounts;
    this.cachedCounts = { at: now, counts };
    return counts;
  }
}
