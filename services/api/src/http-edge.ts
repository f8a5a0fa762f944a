import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { logEveryRequest, REQUEST_ID_HEADER } from '@opsforge/common';
import { injectChaos } from './chaos';
import type { ApiConfig } from './config';
import { ConnectionDrain } from './connection-drain';
import { HttpMetrics } from './http-metrics';
import { JsonErrorFilter } from './json-error.filter';
import { StatusService } from './status.service';

/**
 * The API's HTTP edge: everything that sits on Fastify itself rather than in Nest's router, registered here and
 * nowhere else, after Nest has built the application and before it listens (Nest adds its controllers' routes
 * at listen). Fastify runs hooks of one kind in the order they were added and calls `onRoute` only for routes
 * added after it, so the order below is part of the behaviour:
 *
 * 1. The JSON error filter: one error shape for Nest's exceptions and Fastify's own (parser, body limit).
 * 2. `x-request-id` echoed from the first `onRequest` hook, so every answer carries it, an injected fault (7)
 *    included.
 * 3. RED metrics: the `onRoute` hook must come before any route (4, and Nest's at listen) so that each route's
 *    500 and 503 series exist from start-up; the `onResponse` hook counts every answer, Fastify's 404s too.
 * 4. `GET /api/status` as a plain Fastify route, not a Nest controller: a page polled by dashboards with no
 *    parameters, body, guards or pipes, where Nest's router (execution context, pipes, interceptors, result
 *    handling) took about a tenth off its requests/s (docs/benchmarks.md). Hooks 2, 3, 5, 6 and 7
 *    apply to it like to every route, and its errors reach the filter (1). Its body is StatusService's.
 * 5. The drain's `onSend` hook: `Connection: close` on every answer once SIGTERM arrived.
 * 6. One log line per request, from `onResponse`.
 * 7. Chaos (off unless configured): an `onRequest` hook after the request id (2), for `/api/*` only.
 */
export function configureHttpEdge(app: NestFastifyApplication, config: ApiConfig): void {
  const fastify = app.getHttpAdapter().getInstance();
  app.useGlobalFilters(new JsonErrorFilter(config.BODY_LIMIT_BYTES));
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  app.get(HttpMetrics).instrument(fastify);
  const status = app.get(StatusService);
  fastify.get('/api/status', () => status.report());
  app.get(ConnectionDrain).attach(fastify);
  logEveryRequest(fastify, config, config.LOG_LEVEL);
  injectChaos(fastify, { errorRatio: config.CHAOS_ERROR_RATIO, latencyMs: config.CHAOS_LATENCY_MS });
}
