import http from 'node:http';

/**
 * A fixed-rate (open-loop) HTTP load generator for the chaos suite.
 *
 * Requests are released on a schedule (`ratePerSecond`) whether or not earlier ones have answered, and each
 * latency is measured from the moment the request was *due*, not from when a free connection let it go. A
 * closed-loop tool that waits for a response before sending the next request slows down exactly when the
 * server does, and its p99 hides the stall (coordinated omission). autocannon is closed-loop per connection,
 * and it cannot route among endpoints that come and go, which the graceful-shutdown experiment needs to model
 * a Kubernetes Service taking a terminating pod out of rotation.
 */

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** `POST /api/job` with a job of the contract (`{ type, payload }` as JSON) and any extra headers (an Idempotency-Key). */
export function jobSubmission(
  type: string,
  payload: unknown,
  headers: Record<string, string> = {},
): LoadRequest {
  return {
    method: 'POST',
    path: '/api/job',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ type, payload }),
  };
}

export interface LoadOptions {
  /**
   * Where request number `sequence` goes (`http://host:port`), or undefined to withhold it: models a Service
   * choosing among the endpoints that are in rotation, and having none.
   */
  route: (sequence: number) => string | undefined;
  ratePerSecond: number;
  durationMs: number;
  /** Builds request number `sequence` (0-based). */
  request: (sequence: number) => LoadRequest;
  /** A response with this status is a success; anything else (or no response) is a failure. */
  isSuccess?: (status: number, request: LoadRequest) => boolean;
  /** A request without a complete response after this long is a failure. */
  timeoutMs?: number;
  /** Upper bound on open connections, so a stalled server cannot make the generator open thousands. */
  maxSockets?: number;
}

export interface RequestFailure {
  sequence: number;
  target: string;
  method: string;
  path: string;
  status?: number;
  error?: string;
  body?: string;
}

/** One sent request: where it went, when (ms since the run started), and how it ended. */
export interface RequestRecord {
  sequence: number;
  target: string;
  request: LoadRequest;
  sentAtMs: number;
  answeredAtMs?: number;
  status?: number;
  /** The response body, parsed when it is JSON (small answers only). */
  body?: unknown;
}

export interface LoadResult {
  due: number;
  sent: number;
  withheld: number;
  succeeded: number;
  failures: RequestFailure[];
  records: RequestRecord[];
  /** Latency of every answered request in ms, measured from when it was due; ascending. */
  latenciesMs: number[];
  /** `performance.now()` when the run started; every `*AtMs` of a record is relative to it. */
  startedAt: number;
  elapsedMs: number;
}

export function percentile(sortedAscending: number[], fraction: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const index = Math.min(sortedAscending.length - 1, Math.ceil(fraction * sortedAscending.length) - 1);
  return sortedAscending[Math.max(0, index)];
}

const defaultIsSuccess = (status: number): boolean => status >= 200 && status < 300;

export async function runOpenLoopLoad(options: LoadOptions): Promise<LoadResult> {
  const isSuccess = options.isSuccess ?? defaultIsSuccess;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  const startedAt = performance.now();
  const result: LoadResult = {
    due: 0,
    sent: 0,
    withheld: 0,
    succeeded: 0,
    failures: [],
    records: [],
    latenciesMs: [],
    startedAt,
    elapsedMs: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1000 / options.ratePerSecond;

  const send = (sequence: number, baseUrl: string, dueAt: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const target = new URL(baseUrl);
      const request = options.request(sequence);
      const record: RequestRecord = {
        sequence,
        target: baseUrl,
        request,
        sentAtMs: performance.now() - startedAt,
      };
      result.records.push(record);
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
      const fail = (failure: Omit<RequestFailure, 'sequence' | 'target' | 'method' | 'path'>): void => {
        record.answeredAtMs ??= performance.now() - startedAt;
        result.failures.push({
          sequence,
          target: baseUrl,
          method: request.method,
          path: request.path,
          ...failure,
        });
        resolve();
      };
      const outgoing = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.path,
          headers,
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => fail({ status: response.statusCode, error: error.message }));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            result.latenciesMs.push(performance.now() - dueAt);
            record.answeredAtMs = performance.now() - startedAt;
            record.status = status;
            const text = Buffer.concat(chunks).toString('utf8');
            if (text.length <= 4096 && /json/.test(response.headers['content-type'] ?? '')) {
              try {
                record.body = JSON.parse(text);
              } catch {
                record.body = text;
              }
            }
            if (isSuccess(status, request)) {
              result.succeeded += 1;
              resolve();
            } else {
              fail({ status, body: text.slice(0, 300) });
            }
          });
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no response within ${timeoutMs} ms`)));
      outgoing.on('error', (error) => fail({ error: error.message }));
      outgoing.end(request.body);
    });

  await new Promise<void>((finished) => {
    const tick = (): void => {
      const now = performance.now();
      const elapsed = now - startedAt;
      const dueByNow = Math.min(
        Math.floor(elapsed / intervalMs) + 1,
        Math.floor((options.durationMs / 1000) * options.ratePerSecond),
      );
      while (result.due < dueByNow) {
        const sequence = result.due;
        result.due += 1;
        const baseUrl = options.route(sequence);
        if (baseUrl === undefined) {
          result.withheld += 1;
          continue;
        }
        result.sent += 1;
        const pending = send(sequence, baseUrl, startedAt + sequence * intervalMs);
        inFlight.add(pending);
        void pending.then(() => inFlight.delete(pending));
      }
      if (elapsed >= options.durationMs) finished();
      else setTimeout(tick, Math.max(1, Math.min(intervalMs, 10)));
    };
    tick();
  });
  await Promise.all(inFlight);
  agent.destroy();
  result.elapsedMs = performance.now() - startedAt;
  result.latenciesMs.sort((a, b) => a - b);
  return result;
}
