import { type DynamicModule, Module } from '@nestjs/common';
import { CommonModule } from '@opsforge/common';
import type { ApiConfig } from './config';
import { ConnectionDrain } from './connection-drain';
import { HttpMetrics, httpMetricProviders } from './http-metrics';
import { JobsController } from './jobs.controller';
import { JobsService, jobsEnqueuedProvider } from './jobs.service';
import { StatusService } from './status.service';

@Module({})
export class AppModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CommonModule.forService(config, 'producer')],
      controllers: [JobsController],
      providers: [
        StatusService,
        JobsService,
        jobsEnqueuedProvider,
        HttpMetrics,
        ...httpMetricProviders,
        ConnectionDrain,
      ],
    };
  }
}
