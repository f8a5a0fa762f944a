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
  loadApiConfig,
  logEveryRequest,
  REQUEST_ID_HEADER,
  requestIdFrom,
} from '@opsforge/common';
import { AppModule } from './app.module';
import { injectChaos } from './chaos';
import { ConnectionDrain } from './connection-drain';
import { JsonErrorFilter } from './http-errors';
import { HttpMetrics } from './http-metrics';
import { serveStatus, StatusReporter } from './status';

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
  app.useGlobalFilters(new JsonErrorFilter(config.BODY_LIMIT_BYTES));
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  app.get(HttpMetrics).instrument(fastify);
  serveStatus(fastify, app.get(StatusReporter));
  app.get(ConnectionDrain).attach(fastify);
  logEveryRequest(fastify, logger);
  injectChaos(fastify, { errorRatio: config.CHAOS_ERROR_RATIO, latencyMs: config.CHAOS_LATENCY_MS });
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
