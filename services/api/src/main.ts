import '@opsforge/common/compile-cache';
import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
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
  REQUEST_ID_HEADER,
  requestIdFrom,
} from '@opsforge/common';
import { AppModule } from './app.module';
import { loadApiConfig } from './config';
import { configureHttpEdge } from './http-edge';

const packageVersion = ownPackageVersion(__dirname);

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('api', packageVersion, loadApiConfig);
  const logger = createBootstrapLogger(config, config.LOG_LEVEL);
  exitOnUncaughtErrors(logger);

  // Fastify owns the correlation id: it is request.id, on the request's log line and in the job, and it is
  // echoed in the response so a client can quote it.
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    genReqId: (request: IncomingMessage) => requestIdFrom(request.headers[REQUEST_ID_HEADER]),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  configureHttpEdge(app, config, logger);
  exitGracefullyOnSignals(app, logger, config.SHUTDOWN_TIMEOUT_MS);

  await app.listen({ port: config.PORT, host: '0.0.0.0' });
  logger.info(
    {
      port: config.PORT,
      redis: describeRedis(config),
      version: config.version,
      chaos: { errorRatio: config.CHAOS_ERROR_RATIO, latencyMs: config.CHAOS_LATENCY_MS },
    },
    `api listening on port ${config.PORT}`,
  );
}

void bootstrap();
