import '@opsforge/common/compile-cache';
import 'reflect-metadata';
import { bootstrapService, ownPackageVersion } from '@opsforge/common';
import { AppModule } from './app.module';
import { loadApiConfig } from './config';
import { configureHttpEdge } from './http-edge';

void bootstrapService({
  app: 'api',
  packageVersion: ownPackageVersion(__dirname),
  loadConfig: loadApiConfig,
  module: (config) => AppModule.forRoot(config),
  fastify: (config) => ({ bodyLimit: config.BODY_LIMIT_BYTES }),
  configure: configureHttpEdge,
  listening: (config) => ({
    fields: { chaos: { errorRatio: config.CHAOS_ERROR_RATIO, latencyMs: config.CHAOS_LATENCY_MS } },
    message: `api listening on port ${config.PORT}`,
  }),
});
