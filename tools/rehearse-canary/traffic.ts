// User traffic for the rehearsal: the harness's fixed-rate (open-loop) load, each request sent to the stable
// or the canary instance by the current canary weight, as the Gateway API route splits it in the cluster.
// The split is exact rather than random (a credit accumulates weight/100 per request and a request goes to
// the canary each time it reaches 1), so a 5% weight sends precisely every twentieth request there.
//
// Open loop on purpose: users do not slow down because the canary got slow, so neither does this. What the
// rehearsal asks of the load beyond the chaos suite's runOpenLoopLoad: it runs until the Rollout's verdict,
// its counts are read while it runs, it keeps no per-request records (400 requests/s for minutes), it drops
// rather than queues past its in-flight bound, and a failure is what a user sees at the canary (5xx or no
// answer), not any non-2xx.
import { OpenLoopLoad, type LoadAnswer, type LoadRequest, type LoadTarget } from '@opsforge/harness';

/** A request of the rehearsal's traffic; a body is JSON. */
export interface TrafficRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export interface TrafficOptions {
  stableUrl: string;
  canaryUrl: string;
  ratePerSecond: number;
  /** Initial canary weight, 0-100. */
  canaryWeight: number;
  request: (sequence: number) => TrafficRequest;
  /** A request without a complete answer after this long counts as failed. */
  timeoutMs?: number;
  /** Bound on requests awaiting an answer: past it a due request is counted as dropped, never queued. */
  maxInFlight?: number;
}

export interface TargetStats {
  sent: number;
  /** Answered 5xx, or not answered (connection error, timeout). */
  failed: number;
}

export interface TrafficStats {
  stable: TargetStats;
  canary: TargetStats;
  dropped: number;
}

function asLoadRequest({ method, path, body }: TrafficRequest): LoadRequest {
  return body === undefined
    ? { method, path }
    : { method, path, body, headers: { 'content-type': 'application/json' } };
}

const failedForUser = (answer: LoadAnswer) => answer.error !== undefined || answer.status >= 500;

/** An instance the route sends to, with what it was sent: the stable and the canary may share a URL. */
interface Backend extends LoadTarget {
  stats: TargetStats;
}

export class SplitTraffic {
  private weight: number;
  private credit = 0;
  private readonly backends: Record<'stable' | 'canary', Backend>;
  private readonly load: OpenLoopLoad<Backend>;

  constructor(options: TrafficOptions) {
    this.weight = options.canaryWeight;
    this.backends = {
      stable: { url: options.stableUrl, stats: { sent: 0, failed: 0 } },
      canary: { url: options.canaryUrl, stats: { sent: 0, failed: 0 } },
    };
    this.load = new OpenLoopLoad({
      ratePerSecond: options.ratePerSecond,
      request: (sequence) => asLoadRequest(options.request(sequence)),
      route: () => this.nextBackend(),
      timeoutMs: options.timeoutMs ?? 10_000,
      maxSockets: 128,
      maxInFlight: options.maxInFlight ?? 512,
      onSent: ({ target }) => (target.stats.sent += 1),
      onAnswer: ({ target }, answer) => {
        if (failedForUser(answer)) target.stats.failed += 1;
      },
    });
  }

  /** The Rollout moves the weight at each setWeight step, and to 0 when it aborts. */
  setCanaryWeight(weight: number): void {
    this.weight = weight;
  }

  get canaryWeight(): number {
    return this.weight;
  }

  /** Counts so far: a request still in flight is sent, not yet failed. */
  get stats(): TrafficStats {
    const { stable, canary } = this.backends;
    return { stable: stable.stats, canary: canary.stats, dropped: this.load.counts.dropped };
  }

  /** Milliseconds on the traffic's clock (performance.now()). */
  now(): number {
    return performance.now();
  }

  /** Stops sending, waits for the requests still in flight, and closes the connections. */
  async stop(): Promise<TrafficStats> {
    await this.load.stop();
    return this.stats;
  }

  private nextBackend(): Backend {
    this.credit += this.weight / 100;
    if (this.credit < 1 - 1e-9) return this.backends.stable;
    this.credit -= 1;
    return this.backends.canary;
  }
}
