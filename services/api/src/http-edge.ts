import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { logEveryRequest, REQUEST_ID_HEADER } from '@opsforge/common';
import { injectChaos } from './chaos';
import type { ApiConfig } from './config';
import { ConnectionDrain } from './connection-drain';
import { HttpMetrics } from './http-metrics';
import { submitJob } from './job-submission';
import { JobsService } from './jobs.service';
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
 * 4. `GET /api/status` and `POST /api/job` as plain Fastify routes, not Nest controller methods: neither uses
 *    guards, pipes or interceptors, and Nest's router (execution context, parameter decorators, result
 *    handling) took about a tenth off the status page's requests/s and about a tenth of a submission's CPU
 *    (docs/benchmarks.md). Hooks 2, 3, 5, 6 and 7 apply to them like to every route, and their errors reach the
 *    filter (1). The status body is StatusService's; a submission is read and answered by job-submission.ts.
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
  fastify.post('/api/job', submitJob(app.get(JobsService)));
  app.get(ConnectionDrain).attach(fastify);
  logEveryRequest(fastify, config, config.LOG_LEVEL);
  injectChaos(fastify, { errorRatio: config.CHAOS_ERROR_RATIO, latencyMs: config.CHAOS_LATENCY_MS });
}
