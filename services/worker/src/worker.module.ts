import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { Processor } from '@nestjs/bullmq';
import { CommonModule, JOB_QUEUE_NAME } from '@opsforge/common';
import type { WorkerConfig } from './config';
import { JobEffects } from './job-effects';
import { JobMetrics, jobMetricProviders, QueueMetrics } from './job-metrics';
import { JobProcessor } from './job.processor';

/**
 * @nestjs/bullmq builds the BullMQ Worker from the options of the @Processor decorator, and BullMQ reads
 * lockDuration and stalledInterval only then: so the processor is decorated here, where the configuration is
 * known, as a subclass that adds nothing else.
 */
function configuredJobProcessor(config: WorkerConfig): Type<JobProcessor> {
  @Processor(JOB_QUEUE_NAME, {
    autorun: false,
    lockDuration: config.WORKER_LOCK_DURATION_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
  })
  class ConfiguredJobProcessor extends JobProcessor {}
  return ConfiguredJobProcessor;
}

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [CommonModule.forService(config, 'consumer')],
      providers: [
        { provide: JobProcessor, useClass: configuredJobProcessor(config) },
        JobEffects,
        JobMetrics,
        QueueMetrics,
        ...jobMetricProviders,
      ],
    };
  }
}
