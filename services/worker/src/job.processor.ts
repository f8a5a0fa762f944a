import {
  Inject,
  Injectable,
  Logger as NestLogger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { WorkerHost } from '@nestjs/bullmq';
import { type Job, UnrecoverableError } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CONFIG,
  faultHits,
  type InvoiceTotalPayload,
  type JobData,
  type PingPayload,
  type PingResult,
  JOB_QUEUE_NAME,
  jobCompletedLogger,
  jobPayloadSchemas,
  type JobType,
} from '@opsforge/common';
import type { WorkerConfig } from './config';
import { computeInvoiceTotal } from './invoice';
import { JobEffects } from './job-effects';
import { type AttemptOutcome, JobMetrics } from './job-metrics';

/**
 * The worker's side of the job contract. Registered as a BullMQ processor by WorkerModule, which decorates it
 * with the worker options from config (lock and stall timing are read once, when BullMQ builds the Worker). The
 * worker is created without autorun and started once the application (metrics, probes) is up.
 */
@Injectable()
export class JobProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly lifecycleLogger = new NestLogger('Worker');
  // The one line per completed job, built directly rather than by pino (logging.ts says why).
  private readonly logCompleted: ReturnType<typeof jobCompletedLogger>;
  // CHAOS_JOB_FAILURE_RATIO of the attempts fail, evenly spread (fault-ratio.ts).
  private readonly injectedFailure: () => boolean;

  constructor(
    @Inject(CONFIG) private readonly config: WorkerConfig,
    private readonly logger: PinoLogger,
    private readonly effects: JobEffects,
    private readonly metrics: JobMetrics,
  ) {
    super();
    logger.setContext('JobProcessor');
    this.logCompleted = jobCompletedLogger(config, config.LOG_LEVEL);
    this.injectedFailure = faultHits(config.CHAOS_JOB_FAILURE_RATIO);
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.WORKER_CONCURRENCY;
    // An `error` event without a listener would crash the process; Redis outages are waited out, not fatal.
    // One line per distinct error: during an outage every reconnect attempt fails the same way.
    let lastError: string | undefined;
    this.worker.on('error', (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      this.lifecycleLogger.error(`worker error: ${error.message}`);
    });
    this.worker.on('ready', () => (lastError = undefined));
    this.worker.on('stalled', (jobId) =>
      this.logger.logger.warn(
        { jobId },
        `job ${jobId} stalled (its worker stopped renewing the lock); it will run again`,
      ),
    );
    this.worker.run().catch((error: Error) => this.lifecycleLogger.error(`worker stopped: ${error.message}`));
    this.lifecycleLogger.log(
      `processing queue ${JOB_QUEUE_NAME} with concurrency ${this.config.WORKER_CONCURRENCY}, ` +
        `lock ${this.worker.opts.lockDuration} ms, stalled-job check every ${this.worker.opts.stalledInterval} ms`,
    );
  }

  /**
   * Stop fetching, let active jobs finish within SHUTDOWN_TIMEOUT_MS, then close. Jobs still running after that
   * are abandoned, not lost: their lock expires and another worker runs them again (their effect is idempotent).
   */
  async beforeApplicationShutdown(): Promise<void> {
    const finished = await Promise.race([
      this.worker.pause(false).then(() => true),
      sleep(this.config.SHUTDOWN_TIMEOUT_MS, false, { ref: false }),
    ]);
    if (!finished)
      this.lifecycleLogger.warn(
        `active jobs did not finish within ${this.config.SHUTDOWN_TIMEOUT_MS} ms; leaving them to be retried`,
      );
    await this.worker.close(!finished);
    this.lifecycleLogger.log(
      finished ? 'drained: every active job finished' : 'closed with jobs still active',
    );
  }

  async process(job: Job<JobData>): Promise<unknown> {
    const attempt = job.attemptsMade + 1;
    const started = performance.now();
    let outcome: AttemptOutcome = 'completed';
    try {
      const result = await this.run(job);
      this.logCompleted({
        jobId: String(job.id),
        requestId: job.data?.requestId,
        jobType: job.name,
        attempt,
        durationMs: Math.round(performance.now() - started),
      });
      return result;
    } catch (error) {
      const final = error instanceof UnrecoverableError || attempt >= (job.opts.attempts ?? 1);
      outcome = final ? 'failed' : 'retried';
      const message = (error as Error).message;
      // The correlation fields go on every line about this job, as on the completed line.
      const details = {
        jobId: job.id,
        requestId: job.data?.requestId,
        jobType: job.name,
        attempt,
        err: error,
        durationMs: Math.round(performance.now() - started),
      };
      const log = this.logger.logger;
      if (final) log.error(details, `job ${job.id} failed for good: ${message}`);
      else log.warn(details, `job ${job.id} attempt ${attempt} failed, will retry: ${message}`);
      throw error;
    } finally {
      this.metrics.attempt(job.name, outcome, (performance.now() - started) / 1000);
    }
  }

  private async run(job: Job<JobData>): Promise<unknown> {
    if (!(job.name in jobPayloadSchemas))
      throw new UnrecoverableError(`unknown job type ${JSON.stringify(job.name)}`);
    const type = job.name as JobType;
    // The API validated the payload already; anything else that can write to the queue may not have.
    const parsed = jobPayloadSchemas[type].safeParse(job.data?.payload);
    if (!parsed.success) {
      throw new UnrecoverableError(
        `invalid payload: ${parsed.error.issues.map((issue) => `payload.${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
      );
    }
    if (this.injectedFailure()) {
      throw new Error('injected failure (CHAOS_JOB_FAILURE_RATIO)');
    }
    switch (type) {
      case 'ping': {
        const ping = parsed.data as PingPayload;
        if (ping.holdMs) await sleep(ping.holdMs);
        return { pong: true, ...(ping.note === undefined ? {} : { note: ping.note }) } satisfies PingResult;
      }
      case 'invoice.total':
        return this.effects.recordOnce(
          String(job.id),
          computeInvoiceTotal(parsed.data as InvoiceTotalPayload),
        );
    }
  }
}
