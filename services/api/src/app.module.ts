import { type DynamicModule, Module } from '@nestjs/common';
import { type ApiConfig, CommonModule } from '@opsforge/common';
import { ConnectionDrain } from './connection-drain';
import { HttpMetrics, httpMetricProviders } from './http-metrics';
import { JobsController } from './jobs.controller';
import { JobsService, jobsEnqueuedProvider } from './jobs.service';
import { StatusReporter } from './status';

@Module({})
export class AppModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CommonModule.forService(config, 'producer')],
      controllers: [JobsController],
      providers: [
        StatusReporter,
        JobsService,
        jobsEnqueuedProvider,
        HttpMetrics,
        ...httpMetricProviders,
        ConnectionDrain,
      ],
    };
  }
}
