import type { IncomingHttpHeaders } from 'node:http';

/**
 * Requests that carry this header are the canary's own acceptance and load (src/acceptance.ts), not users: the
 * HTTP metrics label them traffic="synthetic" so the SLO rules can leave them out while the canary analysis
 * still judges them. Only in-cluster callers can send it: the HTTPRoute strips it from every request that
 * comes through the Gateway, so a user cannot hide their own errors from the SLOs.
 */
export const SYNTHETIC_TRAFFIC_HEADER = 'x-synthetic-traffic';

/**
 * The `traffic` label of a request's HTTP metrics: "synthetic", or absent for user traffic, so the series of
 * user requests keep the labels they always had.
 */
export function trafficLabels(headers: IncomingHttpHeaders): { traffic?: 'synthetic' } {
  return headers[SYNTHETIC_TRAFFIC_HEADER] === undefined ? {} : { traffic: 'synthetic' };
}
