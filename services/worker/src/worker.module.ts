import { type DynamicModule, Module } from '@nestjs/common';
import { CommonModule, type WorkerConfig } from '@opsforge/common';
import { JobEffects } from './job-effects';
import { JobMetrics, jobMetricProviders, QueueMetrics } from './job-metrics';
import { JobProcessor } from './job.processor';

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [CommonModule.forService(config, 'consumer')],
      providers: [JobProcessor, JobEffects, JobMetrics, QueueMetrics, ...jobMetricProviders],
    };
  }
}
