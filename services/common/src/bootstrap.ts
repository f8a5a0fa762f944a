import type { IncomingMessage } from 'node:http';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { Logger } from 'nestjs-pino';
import type pino from 'pino';
import type { SharedConfig } from './config';
import { createBootstrapLogger, REQUEST_ID_HEADER, requestIdFrom } from './logging';
import { exitGracefullyOnSignals, exitOnUncaughtErrors, loadConfigOrExit } from './process-guards';
import { describeRedis, type RedisClientConfig } from './redis';

/**
 * JSON bodies parsed by Fastify's own parser, as Fastify would without Nest. Nest's (registered at init) calls
 * that same parser with the same poisoning settings, but wrapped per request in two closures and a parser built
 * again each time, about 4 % of the API's CPU per `POST /api/job` (docs/benchmarks.md). Same errors (empty or
 * malformed body, prototype poisoning, the body limit), same parsed body.
 */
function useFastifyJsonParser(fastify: FastifyInstance): void {
  const { onProtoPoisoning, onConstructorPoisoning } = fastify.initialConfig;
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    fastify.getDefaultJsonParser(onProtoPoisoning ?? 'error', onConstructorPoisoning ?? 'error'),
  );
}

/** What a service's main.ts tells `bootstrapService`; everything else about starting is the same for both. */
export interface ServiceStart<Config extends SharedConfig & RedisClientConfig & { PORT: number }> {
  app: SharedConfig['app'];
  packageVersion: string;
  loadConfig: (env: NodeJS.ProcessEnv, packageVersion: string) => Config;
  module: (config: Config) => DynamicModule;
  /** Fastify options beyond the request id (which is always taken from `x-request-id` or generated). */
  fastify?: (config: Config) => { bodyLimit?: number };
  /** Runs after Nest has built the application and before it listens (hooks, plain Fastify routes). */
  configure: (app: NestFastifyApplication, config: Config, logger: pino.Logger) => void;
  /** The start-up line: fields beyond port, redis and version, and its message. */
  listening: (config: Config) => { fields: Record<string, unknown>; message: string };
}

/**
 * Start a service: configuration (or one clear line and exit 1), crash and signal handling, Nest on Fastify with
 * nestjs-pino as its logger, the service's own edge, listen, and one start-up line.
 */
export async function bootstrapService<Config extends SharedConfig & RedisClientConfig & { PORT: number }>(
  start: ServiceStart<Config>,
): Promise<void> {
  const config = loadConfigOrExit(start.app, start.packageVersion, start.loadConfig);
  const logger = createBootstrapLogger(config, config.LOG_LEVEL);
  exitOnUncaughtErrors(logger);

  // Fastify owns the correlation id: it is request.id, on the request's log line and in the job, and it is
  // echoed in the response so a client can quote it.
  const adapter = new FastifyAdapter({
    ...start.fastify?.(config),
    genReqId: (request: IncomingMessage) => requestIdFrom(request.headers[REQUEST_ID_HEADER]),
  });
  const app = await NestFactory.create<NestFastifyApplication>(start.module(config), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  start.configure(app, config, logger);
  exitGracefullyOnSignals(app, logger, config.SHUTDOWN_TIMEOUT_MS);

  // Nest registers its body parsers (and its controllers' routes) here, after `configure`'s hooks.
  await app.init();
  useFastifyJsonParser(app.getHttpAdapter().getInstance());
  await app.listen({ port: config.PORT, host: '0.0.0.0' });
  const { fields, message } = start.listening(config);
  logger.info(
    { port: config.PORT, redis: describeRedis(config), version: config.version, ...fields },
    message,
  );
}
