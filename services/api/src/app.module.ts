import { type DynamicModule, Module } from '@nestjs/common';
import { type ApiConfig, CommonModule } from '@opsforge/common';
import { ConnectionDrain } from './connection-drain';
import { HttpMetrics, httpMetricProviders } from './http-metrics';
import { JobsController } from './jobs.controller';
import { JobsService, jobsEnqueuedProvider } from './jobs.service';
import { StatusController } from './status.controller';

@Module({})
export class AppModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CommonModule.forService(config, 'producer')],
      controllers: [StatusController, JobsController],
      providers: [JobsService, jobsEnqueuedProvider, HttpMetrics, ...httpMetricProviders, ConnectionDrain],
    };
  }
}
