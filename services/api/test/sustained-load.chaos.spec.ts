import {
  jobSubmission,
  type LoadRequest,
  percentile,
  PRELOADS,
  type RunningService,
  runLoadWithScript,
  useTestQueue,
  waitFor,
} from '@opsforge/harness';

/**
 * A sustained, fixed-rate run against the real built API (with a worker draining the queue) on loopback,
 * bounded in time: no request may fail, p99 is reported against the 300 ms latency objective, and the API's
 * live heap must not grow with the number of requests served.
 */

const RATE_PER_SECOND = 100;
const LOAD_MS = 30_000;
/** When the live heap is measured: after warm-up, in the middle, and just before the load ends. */
const HEAP_CHECKPOINTS_MS = [10_000, 20_000, LOAD_MS - 500];
const LATENCY_OBJECTIVE_MS = 300;
const POD_MEMORY_LIMIT_BYTES = 256 * 2 ** 20;

interface HeapCheckpoint {
  atS: number;
  heapUsedBytes: number;
  rssBytes: number;
}

/** Ask the process for a full GC and the live heap after it (see heap-probe-preload.js). */
async function liveHeapAfterFullGc(service: RunningService): Promise<Omit<HeapCheckpoint, 'atS'>> {
  const before = service.logs.length;
  service.process.kill('SIGWINCH');
  const line = await waitFor(
    'the heap probe to answer',
    () => service.logs.slice(before).find((entry) => entry.app === 'heap-probe'),
    5_000,
    10,
  );
  return { heapUsedBytes: Number(line.heapUsedBytes), rssBytes: Number(line.rssBytes) };
}

const mebibytes = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

describe('api: sustained fixed-rate load', () => {
  const jobs = useTestQueue('load');

  it(`serves ${RATE_PER_SECOND} req/s for ${LOAD_MS / 1000} s with no error and a flat live heap, reporting p99`, async () => {
    const env = { LOG_LEVEL: 'warn' };
    const [api, worker] = await Promise.all([
      jobs.startService('api', {
        env: { ...env, NODE_OPTIONS: `--expose-gc --require ${PRELOADS.heapProbe}` },
      }),
      jobs.startService('worker', { env }),
    ]);

    // Jobs to read back during the run, so every route a client uses is under load.
    const knownIds: string[] = [];
    for (let index = 0; index < 20; index += 1) {
      const response = await fetch(`${api.url}/api/job`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"type":"ping","payload":{}}',
      });
      knownIds.push(((await response.json()) as { id: string }).id);
    }
    const requestMix = (sequence: number): LoadRequest => {
      switch (sequence % 3) {
        case 0:
          return jobSubmission('invoice.total', {
            invoiceId: `load-${sequence}`,
            currency: 'EUR',
            taxRatePercent: 20,
            lines: [{ sku: 'sku', quantity: 3, unitPriceCents: 1999 }],
          });
        case 1:
          return { method: 'GET', path: `/api/job/${knownIds[sequence % knownIds.length]}` };
        default:
          return { method: 'GET', path: '/api/status' };
      }
    };

    const { load, outcome: heap } = await runLoadWithScript(
      {
        route: () => api.url,
        ratePerSecond: RATE_PER_SECOND,
        durationMs: LOAD_MS,
        request: requestMix,
        isSuccess: (status, request) => status === (request.method === 'POST' ? 202 : 200),
        timeoutMs: 5_000,
      },
      async ({ at }) => {
        const checkpoints: HeapCheckpoint[] = [];
        for (const atMs of HEAP_CHECKPOINTS_MS) {
          await at(atMs);
          checkpoints.push({ atS: Math.round(atMs / 1000), ...(await liveHeapAfterFullGc(api)) });
        }
        return checkpoints;
      },
    );
    const requestsBetweenFirstAndLast =
      (RATE_PER_SECOND * (HEAP_CHECKPOINTS_MS[2] - HEAP_CHECKPOINTS_MS[0])) / 1000;
    const liveHeapGrowth = heap[2].heapUsedBytes - heap[0].heapUsedBytes;

    const report = {
      requests: load.sent,
      ratePerSecond: RATE_PER_SECOND,
      seconds: LOAD_MS / 1000,
      errors: load.failures.length,
      errorRatio: load.failures.length / load.sent,
      p50Ms: Number(percentile(load.latenciesMs, 0.5).toFixed(1)),
      p99Ms: Number(percentile(load.latenciesMs, 0.99).toFixed(1)),
      maxMs: Number(percentile(load.latenciesMs, 1).toFixed(1)),
      p99WithinObjective: percentile(load.latenciesMs, 0.99) < LATENCY_OBJECTIVE_MS,
      liveHeapAfterFullGcMiB: heap.map(
        (checkpoint) => `${checkpoint.atS}s: ${mebibytes(checkpoint.heapUsedBytes)}`,
      ),
      liveHeapGrowthBytesPerRequest: Math.round(liveHeapGrowth / requestsBetweenFirstAndLast),
      rssMiB: heap.map((checkpoint) => `${checkpoint.atS}s: ${mebibytes(checkpoint.rssBytes)}`),
    };
    console.log(`sustained load: ${JSON.stringify(report)}`);

    expect(load.sent).toBe((RATE_PER_SECOND * LOAD_MS) / 1000);
    expect(load.failures.slice(0, 5)).toEqual([]);
    // p99 is reported against the objective, not asserted: the generator shares two cores with the service (and,
    // on a developer machine, with everything else), so a tail measured here says more about the neighbours
    // than about the API. The latency objective is enforced where it is measured cleanly: the canary's
    // http-latency-p99 analysis in a cluster, and docs/benchmarks.md on a quiet machine.
    // What survives a full GC does not grow with traffic: under 1 MiB more after the ~2,000 requests between the
    // first and last checkpoint. A leak of half a kilobyte per request would already exceed it.
    expect(liveHeapGrowth).toBeLessThan(2 ** 20);
    // Resident memory stays under the pod's memory limit (256 Mi, gitops/base/api/rollout.yaml): above it the
    // kubelet would OOM-kill the container.
    expect(Math.max(...heap.map((checkpoint) => checkpoint.rssBytes))).toBeLessThan(POD_MEMORY_LIMIT_BYTES);
    expect(api.process.exitCode).toBeNull();
    expect(worker.process.exitCode).toBeNull();
  });
});
