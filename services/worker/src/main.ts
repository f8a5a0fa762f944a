import '@opsforge/common/compile-cache';
import 'reflect-metadata';
import { bootstrapService, logEveryRequest, ownPackageVersion } from '@opsforge/common';
import { loadWorkerConfig } from './config';
import { WorkerModule } from './worker.module';

/**
 * The worker is a BullMQ consumer; its small HTTP server exists for kubelet (/health, /ready) and Prometheus
 * (/metrics) only.
 */
void bootstrapService({
  app: 'worker',
  packageVersion: ownPackageVersion(__dirname),
  loadConfig: loadWorkerConfig,
  module: (config) => WorkerModule.forRoot(config),
  configure: (app, config) => logEveryRequest(app.getHttpAdapter().getInstance(), config, config.LOG_LEVEL),
  listening: (config) => ({
    fields: {
      concurrency: config.WORKER_CONCURRENCY,
      chaos: { jobFailureRatio: config.CHAOS_JOB_FAILURE_RATIO },
    },
    message: `worker probes and metrics listening on port ${config.PORT}`,
  }),
});
