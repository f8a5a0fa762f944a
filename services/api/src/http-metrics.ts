import { Injectable } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { FastifyInstance } from 'fastify';
import type { Counter, Histogram } from 'prom-client';
import { trafficLabels } from './synthetic-traffic';

/** RED metrics of the HTTP edge; names and labels are the contract in docs/architecture.md. */
const HTTP_REQUESTS_TOTAL = 'http_requests_total';
const HTTP_REQUEST_DURATION_SECONDS = 'http_request_duration_seconds';

// `traffic` is set to "synthetic" on the canary acceptance's requests only (synthetic-traffic.ts).
type HttpLabel = 'method' | 'route' | 'status_code' | 'traffic';
const httpLabels: HttpLabel[] = ['method', 'route', 'status_code', 'traffic'];

export const httpMetricProviders = [
  makeCounterProvider({
    name: HTTP_REQUESTS_TOTAL,
    help: 'HTTP requests answered, by route template and status code.',
    labelNames: httpLabels,
  }),
  makeHistogramProvider({
    name: HTTP_REQUEST_DURATION_SECONDS,
    help: 'Time from request received to response sent, by route template and status code.',
    labelNames: httpLabels,
    // Dense around the 300 ms latency objective so the p99 and the SLO burn are measured, not interpolated.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5],
  }),
];

/** Route label for requests that matched no route: raw URLs would give attackers unbounded label cardinality. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * Server-error codes whose series exist from start-up, at 0, for every registered route and method. A counter
 * series otherwise appears only with its first increment, and `rate()` needs two samples of it: the canary's
 * error-rate query (`... status_code=~"5.." ... or vector(0)`) would read 0 for a bad canary's first errors
 * and could pass its first measurement. 500 is what a failing handler answers, 503 what the API answers when
 * Redis is unavailable. Synthetic twins too: in a quiet environment the canary acceptance's load is all the
 * canary serves. Bounded: routes × methods × 2 × 2 (24 counter series today), never driven by traffic; the
 * HEAD twins Fastify adds to every GET route are left out, they would double it for requests nobody sends.
 */
const PRE_INITIALISED_STATUS_CODES = ['500', '503'] as const;

/**
 * The success series of the routes a canary is judged on start at 0 as well (user and synthetic twins): both
 * canary queries keep a canary below 1 request/s out (`> min-request-rate`), and a success series born with its
 * first request loses that first count and needs a second scrape before rate() sees it, so a canary whose
 * traffic is just above the floor (a quiet environment's acceptance load, a 5% weight of a small service) was
 * judged one 15 s scrape later than its traffic allowed. The success code of each route: 6 more counter series.
 */
const PRE_INITIALISED_SUCCESS: Record<string, string> = {
  'GET /api/status': '200',
  'POST /api/job': '202',
  'GET /api/job/:id': '200',
};

@Injectable()
export class HttpMetrics {
  constructor(
    @InjectMetric(HTTP_REQUESTS_TOTAL) private readonly requests: Counter<HttpLabel>,
    @InjectMetric(HTTP_REQUEST_DURATION_SECONDS) private readonly duration: Histogram<HttpLabel>,
  ) {}

  /**
   * Counted in Fastify's onResponse hook rather than a Nest interceptor so that every answer is measured,
   * including the ones Fastify gives before Nest sees the request (404, 413, 415, malformed JSON).
   */
  instrument(fastify: FastifyInstance): void {
    // Called before Nest registers its routes (at listen), so every route passes through this hook.
    fastify.addHook('onRoute', (route) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter(
        (method) => method !== 'HEAD',
      );
      for (const method of methods) {
        const success = PRE_INITIALISED_SUCCESS[`${method} ${route.url}`];
        for (const statusCode of success
          ? [...PRE_INITIALISED_STATUS_CODES, success]
          : PRE_INITIALISED_STATUS_CODES)
          for (const traffic of [{}, { traffic: 'synthetic' }]) {
            const labels = { method, route: route.url, status_code: statusCode, ...traffic };
            this.requests.inc(labels, 0);
            // The latency query sums every status code and takes its traffic floor from these counts: a
            // series appearing late would be missing from the canary's first p99 and its floor as well.
            this.duration.zero(labels);
          }
      }
    });
    fastify.addHook('onResponse', (request, reply, done) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status_code: String(reply.statusCode),
        ...trafficLabels(request.headers),
      };
      this.requests.inc(labels);
      this.duration.observe(labels, reply.elapsedTime / 1000);
      done();
    });
  }
}
