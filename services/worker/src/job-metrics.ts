import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import type { Queue } from 'bullmq';
import { Gauge, register, type Counter, type Histogram } from 'prom-client';
import { CONFIG, JOB_QUEUE_NAME, withTimeout } from '@opsforge/common';
import type { WorkerConfig } from './config';

/** Worker metric names and labels: the contract in docs/architecture.md. */
const JOBS_PROCESSED_TOTAL = 'jobs_processed_total';
const JOB_DURATION_SECONDS = 'job_duration_seconds';
export const WORKER_CONCURRENCY = 'worker_concurrency';
export type AttemptOutcome = 'completed' | 'retried' | 'failed';
type JobLabel = 'job_type' | 'outcome';

export const jobMetricProviders = [
  makeCounterProvider({
    name: JOBS_PROCESSED_TOTAL,
    help: 'Job attempts by type and outcome: completed, retried (another attempt follows) or failed (no attempt left, or unrecoverable).',
    labelNames: ['job_type', 'outcome'],
  }),
  makeHistogramProvider({
    name: JOB_DURATION_SECONDS,
    help: 'Duration of one job attempt, by type and outcome.',
    labelNames: ['job_type', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  makeGaugeProvider({
    name: WORKER_CONCURRENCY,
    help: 'Jobs this worker processes at once (WORKER_CONCURRENCY).',
  }),
];

@Injectable()
export class JobMetrics implements OnModuleInit {
  constructor(
    @InjectMetric(JOBS_PROCESSED_TOTAL) private readonly processed: Counter<JobLabel>,
    @InjectMetric(JOB_DURATION_SECONDS) private readonly duration: Histogram<JobLabel>,
    @InjectMetric(WORKER_CONCURRENCY) private readonly concurrency: Gauge,
    @Inject(CONFIG) private readonly config: WorkerConfig,
  ) {}

  onModuleInit(): void {
    this.concurrency.set(this.config.WORKER_CONCURRENCY);
  }

  attempt(jobType: string, outcome: AttemptOutcome, seconds: number): void {
    this.processed.inc({ job_type: jobType, outcome });
    this.duration.observe({ job_type: jobType, outcome }, seconds);
  }
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
// A scrape must answer within Prometheus' scrape timeout even when Redis does not.
const QUEUE_READ_TIMEOUT_MS = 1000;

/**
 * Queue depth read from Redis at scrape time, so it is the queue's truth whichever worker pod is scraped. During an
 * outage the last values stay exported (Prometheus sees `up` and the Redis alerts for the outage itself).
 */
@Injectable()
export class QueueMetrics implements OnModuleInit {
  private readonly logger = new Logger('QueueMetrics');
  private inFlight: Promise<void> | undefined;
  private latest: { depth: Record<string, number>; oldestWaitingAgeSeconds: number } | undefined;

  constructor(@InjectQueue(JOB_QUEUE_NAME) private readonly queue: Queue) {}

  onModuleInit(): void {
    const refresh = () => this.refresh();
    new Gauge({
      name: 'queue_jobs',
      help: 'Jobs in the queue by state, read from Redis at scrape time.',
      labelNames: ['queue', 'state'],
      registers: [register],
      async collect() {
        const counts = await refresh();
        if (counts)
          for (const state of QUEUE_STATES)
            this.set({ queue: JOB_QUEUE_NAME, state }, counts.depth[state] ?? 0);
      },
    });
    new Gauge({
      name: 'queue_oldest_waiting_job_age_seconds',
      help: 'Age of the oldest job waiting to be picked up (0 when nothing waits): how far behind the workers are.',
      labelNames: ['queue'],
      registers: [register],
      async collect() {
        const counts = await refresh();
        if (counts) this.set({ queue: JOB_QUEUE_NAME }, counts.oldestWaitingAgeSeconds);
      },
    });
  }

  /** Both gauges collect in the same scrape: one Redis read serves them. */
  private async refresh(): Promise<
    { depth: Record<string, number>; oldestWaitingAgeSeconds: number } | undefined
  > {
    this.inFlight ??= this.read().finally(() => {
      setImmediate(() => (this.inFlight = undefined));
    });
    await this.inFlight;
    return this.latest;
  }

  private async read(): Promise<void> {
    try {
      const [depth, oldest] = await withTimeout(
        Promise.all([this.queue.getJobCounts(...QUEUE_STATES), this.queue.getJobs(['wait'], 0, 0, true)]),
        QUEUE_READ_TIMEOUT_MS,
        'queue depth read',
      );
      const oldestTimestamp = oldest[0]?.timestamp;
      this.latest = {
        depth,
        oldestWaitingAgeSeconds: oldestTimestamp ? Math.max(0, (Date.now() - oldestTimestamp) / 1000) : 0,
      };
    } catch (error) {
      this.logger.warn(`queue metrics not refreshed: ${(error as Error).message}`);
    }
  }
}
