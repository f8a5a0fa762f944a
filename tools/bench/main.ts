/**
 * `npm run bench`: the services against baselines measured in the same run, on the same machine and the same
 * (private) Redis, reported as ratios. Prints a Markdown report for docs/benchmarks.md.
 *
 *   GET /api/status     the API (logging and metrics on) vs bare Fastify answering the same JSON
 *   POST /api/job       the API vs raw BullMQ Queue.add at the same concurrency
 *   worker              no-op (ping) job throughput vs a raw BullMQ Worker at the same concurrency
 *   start to ready      process start until GET /ready answers 200
 *   bundle              built output plus production node_modules
 *
 * Each comparison alternates baseline and service for BENCH_ROUNDS rounds (default 3) and compares medians, so
 * that load from other processes on the machine hits both sides alike. Load goes to 127.0.0.1 only and every
 * phase is bounded: BENCH_SECONDS (default 5) per HTTP phase, BENCH_JOBS (default 20000) per worker phase.
 */
import { fork, type ChildProcess, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { statSync, readdirSync, lstatSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { defaultJobOptions, JOB_QUEUE_NAME } from '../../services/common/src/job-contract';
import {
  ensureServicesBuilt,
  freePort,
  type RedisServer,
  startRedisServer,
  startService,
  waitFor,
} from '../../services/common/test/support';

const repositoryRoot = resolve(__dirname, '..', '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const jobCount = Number(process.env.BENCH_JOBS ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const HTTP_CONNECTIONS = 32;
const ENQUEUE_CONCURRENCY = 32;
const WORKER_CONCURRENCY = 16;
const STARTUP_SAMPLES = 5;

interface HttpFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function load(
  url: string,
  options: { method?: 'GET' | 'POST'; body?: string } = {},
): Promise<HttpFigures> {
  const common: autocannon.Options = {
    url,
    connections: HTTP_CONNECTIONS,
    method: options.method ?? 'GET',
    ...(options.body ? { headers: { 'content-type': 'application/json' }, body: options.body } : {}),
  };
  // A short warm-up lets V8 optimise the hot paths before the measured run.
  await autocannon({ ...common, duration: 2 });
  const result = await autocannon({ ...common, duration: seconds });
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function forkReady(script: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(join(__dirname, script), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await once(child, 'message');
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function statusBenchmark(redis: RedisServer) {
  const api = await startService('api', {
    env: { REDIS_URL: redis.url, QUEUE_PREFIX: '{bench-status}', LOG_LEVEL: 'info' },
    captureLogs: false,
  });
  const sample = await (await fetch(`${api.url}/api/status`)).text();
  const port = await freePort();
  const bare = await forkReady('bare-status-server.mjs', { PORT: String(port), STATUS_BODY: sample });
  try {
    const baseline: HttpFigures[] = [];
    const service: HttpFigures[] = [];
    for (let pass = 0; pass < rounds; pass += 1) {
      baseline.push(await load(`http://127.0.0.1:${port}/api/status`));
      service.push(await load(`${api.url}/api/status`));
    }
    return { baseline: medianRun(baseline), service: medianRun(service) };
  } finally {
    await stopChild(bare);
    await api.stop();
  }
}

/** Raw Queue.add from `concurrency` concurrent loops for the bench duration. */
async function rawEnqueueRate(redis: RedisServer, prefix: string): Promise<number> {
  const queue = new Queue(JOB_QUEUE_NAME, { connection: { url: redis.url }, prefix });
  await queue.waitUntilReady();
  let added = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ENQUEUE_CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await queue.add('ping', { payload: {}, requestId: 'bench' }, { ...defaultJobOptions });
        added += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await queue.obliterate({ force: true });
  await queue.close();
  return added / elapsed;
}

async function enqueueBenchmark(redis: RedisServer) {
  const raw = await rawEnqueueRate(redis, '{bench-raw-enqueue}');
  const prefix = '{bench-api-enqueue}';
  const api = await startService('api', {
    env: { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' },
    captureLogs: false,
  });
  try {
    const service = await load(`${api.url}/api/job`, {
      method: 'POST',
      body: JSON.stringify({ type: 'ping', payload: {} }),
    });
    return { rawPerSecond: raw, service };
  } finally {
    await api.stop();
    const queue = new Queue(JOB_QUEUE_NAME, { connection: { url: redis.url }, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/**
 * Fill a paused queue with `jobCount` ping jobs, start the consumer, resume, and time until all completed: the
 * consumer's start-up is not part of the measurement.
 */
async function drainRate(
  redis: RedisServer,
  prefix: string,
  startConsumer: () => Promise<() => Promise<void>>,
): Promise<number> {
  const queue = new Queue(JOB_QUEUE_NAME, { connection: { url: redis.url }, prefix });
  await queue.pause();
  for (let offset = 0; offset < jobCount; offset += 1000) {
    const batch = Math.min(1000, jobCount - offset);
    await queue.addBulk(
      Array.from({ length: batch }, () => ({
        name: 'ping',
        data: { payload: {}, requestId: 'bench' },
        opts: { ...defaultJobOptions },
      })),
    );
  }
  const stopConsumer = await startConsumer();
  try {
    const started = performance.now();
    await queue.resume();
    // Drained means nothing left to run (a paused queue's jobs count as waiting). Not "jobCount completed":
    // retention (removeOnComplete, at most 10,000 kept) removes completed jobs while the phase runs, so the
    // completed count never reaches 20,000.
    await waitFor(
      'the queue to drain',
      async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(counts).every((count) => count === 0);
      },
      300_000,
      20,
    );
    const failed = await queue.getFailedCount();
    if (failed > 0)
      throw new Error(`${failed} no-op jobs failed: the drain rate would not measure completions`);
    return jobCount / ((performance.now() - started) / 1000);
  } finally {
    await stopConsumer();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function workerBenchmark(redis: RedisServer) {
  const raw: number[] = [];
  const service: number[] = [];
  for (let pass = 0; pass < rounds; pass += 1) {
    const figures = await workerRound(redis);
    raw.push(figures.rawPerSecond);
    service.push(figures.servicePerSecond);
  }
  return { rawPerSecond: median(raw), servicePerSecond: median(service) };
}

async function workerRound(redis: RedisServer) {
  const rawPrefix = '{bench-raw-worker}';
  const raw = await drainRate(redis, rawPrefix, async () => {
    const child = await forkReady('raw-worker.mjs', {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: rawPrefix,
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    });
    return () => stopChild(child);
  });
  const servicePrefix = '{bench-worker}';
  const service = await drainRate(redis, servicePrefix, async () => {
    const worker = await startService('worker', {
      env: {
        REDIS_URL: redis.url,
        QUEUE_PREFIX: servicePrefix,
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        LOG_LEVEL: 'info',
      },
      captureLogs: false,
    });
    return async () => {
      await worker.stop();
    };
  });
  return { rawPerSecond: raw, servicePerSecond: service };
}

async function startupBenchmark(redis: RedisServer) {
  const figures: Record<'api' | 'worker', number[]> = { api: [], worker: [] };
  for (const name of ['api', 'worker'] as const) {
    for (let sample = 0; sample < STARTUP_SAMPLES; sample += 1) {
      const started = performance.now();
      const service = await startService(name, {
        env: { REDIS_URL: redis.url, QUEUE_PREFIX: '{bench-startup}' },
        waitUntil: 'none',
        captureLogs: false,
      });
      await waitFor(
        `${name} /ready`,
        async () => {
          try {
            return (await fetch(`${service.url}/ready`)).status === 200;
          } catch {
            return false;
          }
        },
        15_000,
        5,
      );
      figures[name].push(performance.now() - started);
      await service.stop();
    }
  }
  return figures;
}

function directorySize(path: string): number {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + directorySize(join(path, entry)), 0);
}

/**
 * What a service image carries: its bundle (services/<name>/dist/main.js, which contains @opsforge/common and
 * every dependency) plus the node_modules `npm ci --omit=dev` installs.
 */
function bundleSize() {
  const bundles = { api: 0, worker: 0 };
  for (const name of ['api', 'worker'] as const)
    bundles[name] = statSync(join(repositoryRoot, 'services', name, 'dist', 'main.js')).size;
  const listing = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: repositoryRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const directories = [
    ...new Set(
      listing
        .split('\n')
        .filter((line) => line.includes(`${join('node_modules', '')}`) && !lstatSync(line).isSymbolicLink()),
    ),
  ];
  // `npm ls` lists nested packages too; count each directory once, not inside its parent's size again.
  const roots = directories.filter(
    (dir) => !directories.some((other) => other !== dir && dir.startsWith(`${other}/node_modules/`)),
  );
  const dependencies = roots.reduce((sum, dir) => sum + directorySize(dir), 0);
  return { bundles, productionDependencyBytes: dependencies, packages: directories.length };
}

const round = (value: number, digits = 0) => Number(value.toFixed(digits));
function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}
/** The run with the median throughput, so its latencies belong to the same run as its rate. */
function medianRun(runs: HttpFigures[]): HttpFigures {
  return [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(runs.length / 2)];
}
const megabytes = (bytes: number) => `${round(bytes / 1024 / 1024, 1)} MB`;
const verdict = (ratio: number, goal: number, higherIsBetter = true) =>
  (higherIsBetter ? ratio >= goal : ratio <= goal) ? 'met' : 'MISSED';

async function main(): Promise<void> {
  ensureServicesBuilt();
  const loadBefore = loadavg()[0];
  const redis = await startRedisServer({ appendOnly: true, appendFsync: 'everysec' });
  try {
    const status = await statusBenchmark(redis);
    const enqueue = await enqueueBenchmark(redis);
    const worker = await workerBenchmark(redis);
    const startup = await startupBenchmark(redis);
    const bundle = bundleSize();

    const statusRatio = status.service.requestsPerSecond / status.baseline.requestsPerSecond;
    const enqueueRatio = enqueue.service.requestsPerSecond / enqueue.rawPerSecond;
    const workerRatio = worker.servicePerSecond / worker.rawPerSecond;
    const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(
      /v=(\S+)/,
    )?.[1];
    const lines = [
      `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim()}, ${round(totalmem() / 1024 ** 3)} GiB, Node ${process.versions.node}, Redis ${redisVersion} (private, AOF on, appendfsync everysec).`,
      `Machine load average (1 min) ${round(loadBefore, 1)} before, ${round(loadavg()[0], 1)} after: other work on the machine shares the ${cpus().length} cores.`,
      `Median of ${rounds} alternating rounds. HTTP phases: ${seconds} s each after a 2 s warm-up, ${HTTP_CONNECTIONS} connections (autocannon, same machine). Worker phases: ${jobCount} jobs, concurrency ${WORKER_CONCURRENCY}.`,
      '',
      '| measure | OpsForge | baseline (same run) | ratio | goal |',
      '| --- | --- | --- | --- | --- |',
      `| GET /api/status req/s | ${round(status.service.requestsPerSecond)} (p50 ${status.service.p50Ms} ms, p99 ${status.service.p99Ms} ms) | bare Fastify, same JSON: ${round(status.baseline.requestsPerSecond)} (p50 ${status.baseline.p50Ms} ms, p99 ${status.baseline.p99Ms} ms) | ${round(statusRatio, 2)} | ≥ 0.40: ${verdict(statusRatio, 0.4)} |`,
      `| POST /api/job req/s | ${round(enqueue.service.requestsPerSecond)} (p50 ${enqueue.service.p50Ms} ms, p99 ${enqueue.service.p99Ms} ms) | raw Queue.add × ${ENQUEUE_CONCURRENCY} concurrent: ${round(enqueue.rawPerSecond)}/s | ${round(enqueueRatio, 2)} | ≥ 0.30: ${verdict(enqueueRatio, 0.3)} |`,
      `| worker no-op jobs/s | ${round(worker.servicePerSecond)} | raw BullMQ Worker: ${round(worker.rawPerSecond)} | ${round(workerRatio, 2)} | ≥ 0.80: ${verdict(workerRatio, 0.8)} |`,
      `| start → /ready = 200 (api) | median ${round(median(startup.api))} ms, max ${round(Math.max(...startup.api))} ms (${STARTUP_SAMPLES} starts) | | | ≤ 1000 ms: ${verdict(Math.max(...startup.api), 1000, false)} |`,
      `| start → /ready = 200 (worker) | median ${round(median(startup.worker))} ms, max ${round(Math.max(...startup.worker))} ms (${STARTUP_SAMPLES} starts) | | | ≤ 1000 ms: ${verdict(Math.max(...startup.worker), 1000, false)} |`,
      `| production bundle | api bundle ${megabytes(bundle.bundles.api)}, worker bundle ${megabytes(bundle.bundles.worker)}; production node_modules ${megabytes(bundle.productionDependencyBytes)} (${bundle.packages} packages); per image ${megabytes(bundle.bundles.api + bundle.productionDependencyBytes)} | | | report |`,
      '',
      `Errors or non-2xx answers during the HTTP phases: status ${status.service.errors} (baseline ${status.baseline.errors}), enqueue ${enqueue.service.errors}.`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await redis.stop();
  }
  await sleep(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
