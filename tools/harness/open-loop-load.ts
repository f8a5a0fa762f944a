import http from 'node:http';

/**
 * The repository's one fixed-rate (open-loop) HTTP load generator: the chaos suite's `runOpenLoopLoad` and the
 * canary rehearsal's weighted split (tools/rehearse-canary/traffic.ts) are both built on `OpenLoopLoad`.
 *
 * Requests are released on a schedule (`ratePerSecond`) whether or not earlier ones have answered, and each
 * latency is measured from the moment the request was *due*, not from when a free connection let it go. A
 * closed-loop tool that waits for a response before sending the next request slows down exactly when the
 * server does, and its p99 hides the stall (coordinated omission). autocannon is closed-loop per connection,
 * and it cannot route among endpoints that come and go, which the graceful-shutdown experiment needs to model
 * a Kubernetes Service taking a terminating pod out of rotation, and the rehearsal a Gateway route's weights.
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

/** Where a request goes: `url` is `http://host:port`; a caller's target may carry more (its counters). */
export interface LoadTarget {
  url: string;
}

/** One request the generator sent; times in ms since the load started. */
export interface SentRequest<Target extends LoadTarget = LoadTarget> {
  sequence: number;
  target: Target;
  request: LoadRequest;
  dueAtMs: number;
  sentAtMs: number;
}

/** How a sent request ended: a complete response, or none (connection error, timeout, response cut short). */
type Outcome =
  | { status: number; contentType: string; body: string; error?: undefined }
  | { status?: number; error: string };
export type LoadAnswer = Outcome & { answeredAtMs: number };

export interface OpenLoopOptions<Target extends LoadTarget> {
  ratePerSecond: number;
  /** Builds request number `sequence` (0-based). */
  request: (sequence: number) => LoadRequest;
  /** Where request number `sequence` goes, or undefined to withhold it (asked in sequence order). */
  route: (sequence: number) => Target | undefined;
  /** Release requests for this long, then stop by itself; without it, until `stop()`. */
  durationMs?: number;
  /** A request without a complete response after this long has no answer. */
  timeoutMs: number;
  /** Bound on open connections to each target: past it a request waits for a free one (queues). */
  maxSockets: number;
  /** Bound on requests awaiting an answer: past it a due request is counted as dropped, never sent. */
  maxInFlight?: number;
  onSent?: (sent: SentRequest<Target>) => void;
  onAnswer: (sent: SentRequest<Target>, answer: LoadAnswer) => void;
}

/** A tick releases whatever has fallen due since the last one, so the rate holds when a tick runs late. */
const TICK_MS = 5;

/** Fixed-rate HTTP load, started on construction, until `durationMs` or `stop()`. */
export class OpenLoopLoad<Target extends LoadTarget = LoadTarget> {
  /** `performance.now()` when the load started; request number n is due `n / ratePerSecond` s after it. */
  readonly startedAt = performance.now();
  readonly counts = { due: 0, sent: 0, withheld: 0, dropped: 0 };
  /** Settles once the load has stopped and every request sent has its answer. */
  readonly finished: Promise<void>;
  private readonly agent: http.Agent;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private stopping = false;
  private markFinished!: () => void;

  constructor(private readonly options: OpenLoopOptions<Target>) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
    this.finished = new Promise((resolve) => (this.markFinished = resolve));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  /** Stops releasing requests, waits for the answers still due, and closes the connections. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      clearInterval(this.timer);
      await Promise.all([...this.inFlight]);
      this.agent.destroy();
      this.markFinished();
    }
    return this.finished;
  }

  private tick(): void {
    if (this.stopping) return;
    const { ratePerSecond, durationMs } = this.options;
    const elapsed = this.sinceStart();
    const dueSoFar = (ms: number) => (ratePerSecond > 0 ? Math.floor((ms / 1000) * ratePerSecond) + 1 : 0);
    const dueByNow =
      durationMs === undefined
        ? dueSoFar(elapsed)
        : Math.min(dueSoFar(elapsed), Math.floor((durationMs / 1000) * ratePerSecond));
    while (this.counts.due < dueByNow) {
      const sequence = this.counts.due;
      this.counts.due += 1;
      const target = this.options.route(sequence);
      if (target === undefined) {
        this.counts.withheld += 1;
      } else if (this.inFlight.size >= (this.options.maxInFlight ?? Infinity)) {
        this.counts.dropped += 1;
      } else {
        this.counts.sent += 1;
        const pending = this.send(sequence, target, (sequence * 1000) / ratePerSecond).finally(() =>
          this.inFlight.delete(pending),
        );
        this.inFlight.add(pending);
      }
    }
    if (durationMs !== undefined && elapsed >= durationMs) void this.stop();
  }

  private sinceStart(): number {
    return performance.now() - this.startedAt;
  }

  private send(sequence: number, target: Target, dueAtMs: number): Promise<void> {
    const request = this.options.request(sequence);
    const sent: SentRequest<Target> = { sequence, target, request, dueAtMs, sentAtMs: this.sinceStart() };
    this.options.onSent?.(sent);
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    return new Promise<void>((resolve) => {
      // A response can end in more than one of end, error and close: the first says how it ended.
      let answered = false;
      const answer = (outcome: Outcome) => {
        if (answered) return;
        answered = true;
        this.options.onAnswer(sent, { ...outcome, answeredAtMs: this.sinceStart() });
        resolve();
      };
      const url = new URL(target.url);
      const outgoing = http.request(
        {
          agent: this.agent,
          host: url.hostname,
          port: url.port,
          method: request.method,
          path: request.path,
          headers,
          timeout: this.options.timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => answer({ status: response.statusCode, error: error.message }));
          response.on('end', () =>
            answer({
              status: response.statusCode ?? 0,
              contentType: response.headers['content-type'] ?? '',
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('close', () => answer({ status: response.statusCode, error: 'response cut short' }));
        },
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(new Error(`no response within ${this.options.timeoutMs} ms`)),
      );
      outgoing.on('error', (error) => answer({ error: error.message }));
      outgoing.end(request.body);
    });
  }
}

const defaultIsSuccess = (status: number): boolean => status >= 200 && status < 300;

/** Fixed-rate load for `durationMs`, every request's record and every answered one's latency kept. */
export async function runOpenLoopLoad(options: LoadOptions): Promise<LoadResult> {
  const isSuccess = options.isSuccess ?? defaultIsSuccess;
  const failures: RequestFailure[] = [];
  const records: RequestRecord[] = [];
  const latenciesMs: number[] = [];
  const recordOf = new Map<number, RequestRecord>();
  const load = new OpenLoopLoad({
    ratePerSecond: options.ratePerSecond,
    request: options.request,
    route: (sequence) => {
      const url = options.route(sequence);
      return url === undefined ? undefined : { url };
    },
    durationMs: options.durationMs,
    timeoutMs: options.timeoutMs ?? 5_000,
    maxSockets: options.maxSockets ?? 64,
    onSent: ({ sequence, target, request, sentAtMs }) => {
      const record = { sequence, target: target.url, request, sentAtMs };
      records.push(record);
      recordOf.set(sequence, record);
    },
    onAnswer: ({ sequence, target, request, dueAtMs }, answer) => {
      const record = recordOf.get(sequence)!;
      recordOf.delete(sequence);
      record.answeredAtMs = answer.answeredAtMs;
      const which = { sequence, target: target.url, method: request.method, path: request.path };
      if (answer.error !== undefined) {
        failures.push({ ...which, status: answer.status, error: answer.error });
        return;
      }
      latenciesMs.push(answer.answeredAtMs - dueAtMs);
      record.status = answer.status;
      if (answer.body.length <= 4096 && /json/.test(answer.contentType)) {
        try {
          record.body = JSON.parse(answer.body);
        } catch {
          record.body = answer.body;
        }
      }
      if (!isSuccess(answer.status, request))
        failures.push({ ...which, status: answer.status, body: answer.body.slice(0, 300) });
    },
  });
  await load.finished;
  const { due, sent, withheld } = load.counts;
  return {
    due,
    sent,
    withheld,
    failures,
    records,
    latenciesMs: latenciesMs.sort((a, b) => a - b),
    startedAt: load.startedAt,
    elapsedMs: performance.now() - load.startedAt,
  };
}
