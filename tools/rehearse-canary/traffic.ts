// User traffic for the rehearsal: an open-loop stream of requests at a fixed rate, each sent to the stable
// or the canary instance by the current canary weight, as the Gateway API route splits it in the cluster.
// The split is exact rather than random (a credit accumulates weight/100 per request and a request goes to
// the canary each time it reaches 1), so a 5% weight sends precisely every twentieth request there.
//
// Open loop on purpose: users do not slow down because the canary got slow, so neither does this. Not the
// harness's runOpenLoopLoad (the chaos suite's generator), whose schedule and routing callback are alike but
// whose contract is not: it runs for a fixed duration and reports at the end, keeping every request's record
// and body for its latency percentiles, and queues past its socket bound. A rehearsal stops at the Rollout's
// verdict, whenever that comes, reads the canary's counts while it runs, sends 400 requests/s for minutes
// (no records kept), drops rather than queues past its in-flight bound, and counts a failure as a user sees
// it at the canary (5xx or no answer), not any non-2xx.
import http from 'node:http';

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

function newStats(): TargetStats {
  return { sent: 0, failed: 0 };
}

export class SplitTraffic {
  private weight: number;
  private credit = 0;
  private sequence = 0;
  private readonly startedAt = performance.now();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly agents = {
    stable: new http.Agent({ keepAlive: true, maxSockets: 128 }),
    canary: new http.Agent({ keepAlive: true, maxSockets: 128 }),
  };
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  readonly stats: TrafficStats = { stable: newStats(), canary: newStats(), dropped: 0 };

  constructor(private readonly options: TrafficOptions) {
    this.weight = options.canaryWeight;
    // A 5 ms tick sends whatever has fallen due since the last one: the rate holds even when a tick runs late.
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** The Rollout moves the weight at each setWeight step, and to 0 when it aborts. */
  setCanaryWeight(weight: number): void {
    this.weight = weight;
  }

  get canaryWeight(): number {
    return this.weight;
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.startedAt) / 1000) * this.options.ratePerSecond);
    while (this.sequence < due && !this.stopped) {
      this.credit += this.weight / 100;
      let target: 'stable' | 'canary' = 'stable';
      if (this.credit >= 1 - 1e-9) {
        this.credit -= 1;
        target = 'canary';
      }
      const request = this.options.request(this.sequence);
      this.sequence += 1;
      if (this.inFlight.size >= (this.options.maxInFlight ?? 512)) {
        this.stats.dropped += 1;
        continue;
      }
      const sending = this.send(target, request).finally(() => this.inFlight.delete(sending));
      this.inFlight.add(sending);
    }
  }

  private send(target: 'stable' | 'canary', request: TrafficRequest): Promise<void> {
    const stats = this.stats[target];
    stats.sent += 1;
    const url = new URL(request.path, target === 'stable' ? this.options.stableUrl : this.options.canaryUrl);
    return new Promise<void>((resolve) => {
      // A request can report both a response error and a socket error: count it once.
      let settled = false;
      const settle = (failed: boolean) => {
        if (settled) return;
        settled = true;
        if (failed) stats.failed += 1;
        resolve();
      };
      const outgoing = http.request(
        url,
        {
          method: request.method,
          agent: this.agents[target],
          timeout: this.options.timeoutMs ?? 10_000,
          headers: request.body
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(request.body) }
            : undefined,
        },
        (response) => {
          response.resume();
          response.on('end', () => settle((response.statusCode ?? 500) >= 500));
          response.on('error', () => settle(true));
          // A response cut short emits close without end.
          response.on('close', () => settle(!response.complete || (response.statusCode ?? 500) >= 500));
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
      outgoing.on('error', () => settle(true));
      outgoing.end(request.body);
    });
  }

  /** Milliseconds on the traffic's clock (performance.now()). */
  now(): number {
    return performance.now();
  }

  /** Stops sending, waits for the requests still in flight, and closes the connections. */
  async stop(): Promise<TrafficStats> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
    this.agents.stable.destroy();
    this.agents.canary.destroy();
    return this.stats;
  }
}
