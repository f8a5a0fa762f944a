import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type FaultUnderLoad,
  jobSubmission,
  type LoadRequest,
  percentile,
  type RunningService,
  runLoadWithFault,
  useTestQueue,
} from '@opsforge/harness';

/**
 * Terminating an API pod under load costs no request. Two real API processes stand for two replicas behind a
 * Service; the load generator routes round-robin among the endpoints in rotation. One replica is terminated
 * the way the kubelet does it (gitops/base/api/rollout.yaml):
 *
 *   t0           pod marked Terminating; the endpoint is removed, which reaches the router after a
 *                propagation delay; meanwhile the kubelet runs the preStop sleep
 *   t0 + preStop SIGTERM: readiness fails, in-flight requests finish, the process exits 0
 *
 * The manifests' 5 s preStop is scaled down to 1 s and the propagation delay is 250 ms. Every request is slowed
 * by CHAOS_LATENCY_MS so that dozens are still in flight on the terminating replica when SIGTERM arrives:
 * those are what the drain must finish.
 */

/**
 * 100 requests a second for 6 s. 2 s in, the replica is marked Terminating: its endpoint leaves the router
 * `endpointPropagationMs` later, and SIGTERM comes after the preStop sleep.
 */
const TERMINATION: FaultUnderLoad & { endpointPropagationMs: number; preStopMs: number } = {
  ratePerSecond: 100,
  durationMs: 6_000,
  faultAtMs: 2_000,
  endpointPropagationMs: 250,
  preStopMs: 1_000,
};
const REQUEST_LATENCY_MS = 1_500;
const SHUTDOWN_TIMEOUT_MS = 10_000;

/** How a request on a pooled connection ended: answered (with its Connection header), or cut with an error code. */
type PooledAnswer = { status: number; connection: string | undefined } | { cut: string };

function requestNumber(sequence: number): LoadRequest {
  if (sequence % 3 === 2) return { method: 'GET', path: '/api/status' };
  return jobSubmission('ping', { note: `drain-${sequence}` });
}

describe('api: SIGTERM under load', () => {
  const jobs = useTestQueue('api-drain');
  const pools: http.Agent[] = [];

  /** One API replica whose every /api request takes `requestLatencyMs`, draining for `shutdownTimeoutMs`. */
  function startSlowApi(shutdownTimeoutMs: number, requestLatencyMs: number): Promise<RunningService> {
    return jobs.startService('api', {
      env: {
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        CHAOS_LATENCY_MS: String(requestLatencyMs),
        LOG_LEVEL: 'warn',
      },
    });
  }

  /**
   * GET /api/status on `api` through a keep-alive pool of one connection, as a gateway's upstream pool sends it.
   * The pool keeps the connection after the answer (afterAll destroys it): what a drain must not wait for.
   */
  function pooledStatusRequest(api: RunningService): Promise<PooledAnswer> {
    const pool = new http.Agent({ keepAlive: true, maxSockets: 1 });
    pools.push(pool);
    return new Promise((resolve) => {
      http
        .get({ agent: pool, host: '127.0.0.1', port: api.port, path: '/api/status' }, (response) => {
          response.resume();
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }),
          );
        })
        .on('error', (error: NodeJS.ErrnoException) => resolve({ cut: error.code ?? error.message }));
    });
  }

  afterAll(() => {
    for (const pool of pools) pool.destroy();
  });

  it('finishes every in-flight request and fails none while a replica is terminated', async () => {
    const [terminated, survivor] = await Promise.all([
      startSlowApi(SHUTDOWN_TIMEOUT_MS, REQUEST_LATENCY_MS),
      startSlowApi(SHUTDOWN_TIMEOUT_MS, REQUEST_LATENCY_MS),
    ]);

    let inRotation = [terminated.url, survivor.url];
    let sigtermAt = Number.NaN;
    let readyAfterSigterm: number | string = 'not probed';
    let exitAfterSigtermMs = Number.NaN;

    const kubelet = async () => {
      const terminatingAt = performance.now();
      setTimeout(
        () => (inRotation = inRotation.filter((url) => url !== terminated.url)),
        TERMINATION.endpointPropagationMs,
      );
      await sleep(TERMINATION.preStopMs - (performance.now() - terminatingAt));
      sigtermAt = performance.now();
      terminated.process.kill('SIGTERM');
      readyAfterSigterm = await fetch(`${terminated.url}/ready`, { signal: AbortSignal.timeout(1_000) })
        .then((response) => response.status)
        .catch(
          (error: Error) =>
            `no answer (${error.cause instanceof Error ? error.cause.message : error.message})`,
        );
      const exit = await terminated.exited;
      exitAfterSigtermMs = performance.now() - sigtermAt;
      return exit;
    };

    const {
      load,
      outcome: exit,
      onLoadClock,
    } = await runLoadWithFault(
      {
        ...TERMINATION,
        route: (sequence) => (inRotation.length === 0 ? undefined : inRotation[sequence % inRotation.length]),
        request: requestNumber,
        isSuccess: (status, request) => status === (request.method === 'POST' ? 202 : 200),
        timeoutMs: REQUEST_LATENCY_MS + 5_000,
        maxSockets: 512,
      },
      kubelet,
    );
    const sigtermOnLoadClock = onLoadClock(sigtermAt);
    const inFlightAtSigterm = load.records.filter(
      (record) =>
        record.target === terminated.url &&
        record.sentAtMs < sigtermOnLoadClock &&
        (record.answeredAtMs ?? Infinity) > sigtermOnLoadClock,
    );
    const servedByTerminated = load.records.filter((record) => record.target === terminated.url).length;

    const report = {
      sent: load.sent,
      failed: load.failures.length,
      withheld: load.withheld,
      servedByTerminatedReplica: servedByTerminated,
      inFlightOnItAtSigterm: inFlightAtSigterm.length,
      readyAfterSigterm,
      exit,
      exitAfterSigtermMs: Math.round(exitAfterSigtermMs),
      p99Ms: Math.round(percentile(load.latenciesMs, 0.99)),
    };
    console.log(`api SIGTERM under load: ${JSON.stringify(report)}`);

    expect(load.failures).toEqual([]);
    expect(load.withheld).toBe(0);
    expect(load.sent).toBe((TERMINATION.ratePerSecond * TERMINATION.durationMs) / 1000);
    // The drain was really exercised: many requests were mid-flight on the replica when it got SIGTERM.
    expect(inFlightAtSigterm.length).toBeGreaterThanOrEqual(20);
    expect(inFlightAtSigterm.every((record) => record.status === 200 || record.status === 202)).toBe(true);
    expect(readyAfterSigterm).not.toBe(200);
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the slowest in-flight request, and not much longer.
    expect(exitAfterSigtermMs).toBeGreaterThan(REQUEST_LATENCY_MS - TERMINATION.preStopMs);
    expect(exitAfterSigtermMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);

    // Every job the terminated replica acknowledged is in the queue: a 202 is a promise.
    const acknowledged = inFlightAtSigterm
      .filter((record) => record.request.method === 'POST')
      .map((record) => (record.body as { id: string }).id);
    expect(acknowledged.length).toBeGreaterThan(0);
    const readBack = await Promise.all(
      acknowledged.map((id) =>
        fetch(`${survivor.url}/api/job/${encodeURIComponent(id)}`).then((response) => response.status),
      ),
    );
    expect(readBack.filter((status) => status !== 200)).toEqual([]);
  });

  // Node's server.close() closes only the connections idle at that moment: a connection busy at SIGTERM used to
  // stay open after its response (Fastify's keepAliveTimeout is 72 s), so a gateway or any pooling client held
  // the drain open until the watchdog exited 1. While draining every response now says `Connection: close`.
  it('exits 0 within SHUTDOWN_TIMEOUT_MS when a pooling client keeps the connection of an in-flight request', async () => {
    const shutdownTimeoutMs = 2_000;
    const requestLatencyMs = 500;
    const api = await startSlowApi(shutdownTimeoutMs, requestLatencyMs);
    // A request in flight when SIGTERM arrives; afterwards its connection sits idle in the pool, as a gateway's
    // upstream connection would.
    const answered = pooledStatusRequest(api);
    await sleep(requestLatencyMs / 2);
    const signalledAt = performance.now();
    api.process.kill('SIGTERM');
    expect(await answered).toEqual({ status: 200, connection: 'close' });
    const exit = await Promise.race([
      api.exited,
      sleep(shutdownTimeoutMs + 6_000).then(() => 'still running' as const),
    ]);
    const exitAfterMs = performance.now() - signalledAt;
    console.log(
      `api SIGTERM, pooled connection of an in-flight request: ${JSON.stringify({ exit, exitAfterMs: Math.round(exitAfterMs), shutdownTimeoutMs })}`,
    );
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitAfterMs).toBeLessThan(shutdownTimeoutMs);
  });

  it('cuts a request slower than SHUTDOWN_TIMEOUT_MS at the bound and still exits 0 before the watchdog', async () => {
    const shutdownTimeoutMs = 1_000;
    const requestLatencyMs = 4_000;
    const api = await startSlowApi(shutdownTimeoutMs, requestLatencyMs);
    const answered = pooledStatusRequest(api);
    await sleep(200);
    const signalledAt = performance.now();
    api.process.kill('SIGTERM');
    const exit = await api.exited;
    const exitAfterMs = performance.now() - signalledAt;
    const client = await answered;
    console.log(
      `api SIGTERM, request slower than the bound: ${JSON.stringify({ exit, exitAfterMs: Math.round(exitAfterMs), shutdownTimeoutMs, client })}`,
    );
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the request up to the bound, then cut it: well before the watchdog (bound + 5 s, exit 1).
    expect(exitAfterMs).toBeGreaterThanOrEqual(shutdownTimeoutMs);
    expect(exitAfterMs).toBeLessThan(shutdownTimeoutMs + 2_000);
    expect(client).toEqual({ cut: expect.any(String) });
    expect(
      api.logs.some((line) => line.level === 'warn' && String(line.msg).includes('requests still in flight')),
    ).toBe(true);
  });
});
