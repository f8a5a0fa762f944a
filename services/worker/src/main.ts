import '@opsforge/common/compile-cache';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import {
  createBootstrapLogger,
  describeRedis,
  exitGracefullyOnSignals,
  exitOnUncaughtErrors,
  loadConfigOrExit,
  ownPackageVersion,
  logEveryRequest,
} from '@opsforge/common';
import { loadWorkerConfig } from './config';
import { WorkerModule } from './worker.module';

const packageVersion = ownPackageVersion(__dirname);

/**
 * The worker is a BullMQ consumer; its small HTTP server exists for kubelet (/health, /ready) and Prometheus
 * (/metrics) only.
 */
async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('worker', packageVersion, loadWorkerConfig);
  const logger = createBootstrapLogger(config, config.LOG_LEVEL);
  exitOnUncaughtErrors(logger);

  const adapter = new FastifyAdapter();
  const app = await NestFactory.create<NestFastifyApplication>(WorkerModule.forRoot(config), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  logEveryRequest(adapter.getInstance(), logger);
  exitGracefullyOnSignals(app, logger, config.SHUTDOWN_TIMEOUT_MS);

  await app.listen({ port: config.PORT, host: '0.0.0.0' });
  logger.info(
    {
      port: config.PORT,
      redis: describeRedis(config),
      version: config.version,
      concurrency: config.WORKER_CONCURRENCY,
      chaos: { jobFailureRatio: config.CHAOS_JOB_FAILURE_RATIO },
    },
    `worker probes and metrics listening on port ${config.PORT}`,
  );
}

void bootstrap();
