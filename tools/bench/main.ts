/**
 * `npm run bench`: the services against baselines measured in the same run, on the same machine and the same
 * (private) Redis, reported as ratios. Prints a Markdown report for docs/benchmarks.md.
 *
 *   GET /api/status     the API (logging and metrics on) vs bare Fastify answering the same JSON
 *   POST /api/job       the API vs raw BullMQ Queue.add at the same concurrency
 *   worker              no-op (ping) job throughput vs a raw BullMQ Worker at the same concurrency
 *   start to ready      process start until GET /ready answers 200
 *   memory              RSS of the api and the worker at idle and at the end of each loaded round
 *   bundle              built output plus production node_modules
 *
 * Two measures per comparison. Throughput (requests or jobs per second) depends on what else the machine runs:
 * the load generator and other processes share its cores. CPU time per 1,000 requests or jobs (user + system,
 * as each server process counts it itself: process.cpuUsage() over IPC for the baselines, prom-client's
 * process_cpu_*_seconds_total on /metrics for the services) depends much less on it, so it is the measure to
 * steer by. Each comparison alternates baseline and service for BENCH_ROUNDS short rounds (default 7) after a
 * warm-up, and reports the median ratio with its spread (min–max over the rounds). Load goes to 127.0.0.1 only
 * and every phase is bounded: BENCH_SECONDS (default 3) per HTTP round, BENCH_JOBS (default 20000) per worker
 * round.
 */
import { execFileSync } from 'node:child_process';
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
  waitFor,
} from '@opsforge/harness';
import {
  type BenchQueue,
  forkBaseline,
  type MeasuredBaseline,
  type MeasuredProcess,
  nextMessage,
  type ProcessProbe,
  spawnService,
  startMeasuredService,
} from './measured-processes';

const repositoryRoot = resolve(__dirname, '..', '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const jobCount = Number(process.env.BENCH_JOBS ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
/**
 * BENCH_ONLY=status,post,worker,startup runs only those parts (comma-separated; default all), so that an
 * experiment on one path takes a minute instead of the whole run. The report then has rows for those only.
 */
const PARTS = ['status', 'post', 'worker', 'startup'] as const;
type Part = (typeof PARTS)[number];
const only = (process.env.BENCH_ONLY ?? PARTS.join(','))
  .split(',')
  .map((part) => part.trim())
  .filter(Boolean);
for (const part of only)
  if (!(PARTS as readonly string[]).includes(part))
    throw new Error(`BENCH_ONLY: unknown part "${part}" (known: ${PARTS.join(', ')})`);
const runs = (part: Part) => only.includes(part);
// Both sides warm up before the measured rounds, long enough for V8 to have optimised the hot paths: with 2 s
// the API's first rounds still cost up to a third more CPU per request than its last ones.
const WARM_UP_SECONDS = Number(process.env.BENCH_WARM_UP_SECONDS ?? 5);
const HTTP_CONNECTIONS = 32;
const ENQUEUE_CONCURRENCY = 32;
const WORKER_CONCURRENCY = 16;
const STARTUP_SAMPLES = 5;

/** One side of one round: how much work, how fast, and how much CPU the server process spent on it. */
interface Round {
  perSecond: number;
  cpuMsPer1000: number;
  /** The server process's RSS at the end of the round. */
  rssBytes: number;
  p50Ms?: number;
  p99Ms?: number;
  errors?: number;
}

interface Comparison {
  service: Round[];
  baseline: Round[];
}

/** RSS of each service at idle: settled after start-up (connections open) but before any load. */
const idleRss = { api: 0, worker: 0 };
async function sampleIdleRss(name: 'api' | 'worker', probe: ProcessProbe): Promise<void> {
  await sleep(1000);
  idleRss[name] = Math.max(idleRss[name], (await probe.read()).rssBytes);
}

async function httpRound(
  url: string,
  probe: ProcessProbe,
  options: { method?: 'GET' | 'POST'; body?: string; duration?: number },
): Promise<Round> {
  const before = await probe.read();
  const result = await autocannon({
    url,
    connections: HTTP_CONNECTIONS,
    duration: options.duration ?? seconds,
    method: options.method ?? 'GET',
    ...(options.body ? { headers: { 'content-type': 'application/json' }, body: options.body } : {}),
  });
  const after = await probe.read();
  return {
    rssBytes: after.rssBytes,
    perSecond: result.requests.total / result.duration,
    cpuMsPer1000: ((after.cpuMs - before.cpuMs) / result.requests.total) * 1000,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** One side of a comparison: its process, and one round of load on it (`warmUp`: the first, longer one). */
interface Side {
  process: MeasuredProcess;
  round(warmUp: boolean): Promise<Round>;
}

/**
 * Warm both sides up once, which lets V8 optimise their hot paths before the measured rounds, then alternate
 * baseline and service for BENCH_ROUNDS rounds. `idle` runs first, before any load; `beforeEachPass` before each
 * pair of rounds. Both processes are stopped at the end, whatever happened.
 */
async function alternate(
  baseline: Side,
  service: Side,
  hooks: { idle?: () => Promise<void>; beforeEachPass?: () => Promise<void> } = {},
): Promise<Comparison> {
  try {
    await hooks.idle?.();
    await baseline.round(true);
    await service.round(true);
    const comparison: Comparison = { service: [], baseline: [] };
    for (let pass = 0; pass < rounds; pass += 1) {
      await hooks.beforeEachPass?.();
      comparison.baseline.push(await baseline.round(false));
      comparison.service.push(await service.round(false));
    }
    return comparison;
  } finally {
    await baseline.process.stop();
    await service.process.stop();
  }
}

/** HTTP load on `url` (autocannon, HTTP_CONNECTIONS connections) for BENCH_SECONDS, or WARM_UP_SECONDS first. */
function httpSide(
  server: MeasuredProcess,
  url: string,
  request: { method?: 'GET' | 'POST'; body?: string } = {},
): Side {
  return {
    process: server,
    round: (warmUp) =>
      httpRound(url, server.probe, { ...request, duration: warmUp ? WARM_UP_SECONDS : seconds }),
  };
}

async function obliterate({ redis, prefix }: BenchQueue): Promise<void> {
  const queue = new Queue(JOB_QUEUE_NAME, { connection: { url: redis.url }, prefix });
  await queue.obliterate({ force: true });
  await queue.close();
}

async function statusBenchmark(redis: RedisServer): Promise<Comparison> {
  const api = await startMeasuredService('api', { redis, prefix: '{bench-status}' });
  const sample = await (await fetch(`${api.url}/api/status`)).text();
  const port = await freePort();
  const bare = await forkBaseline('bare-status-server.mjs', { PORT: String(port), STATUS_BODY: sample });
  return alternate(
    httpSide(bare, `http://127.0.0.1:${port}/api/status`),
    httpSide(api, `${api.url}/api/status`),
    {
      idle: () => sampleIdleRss('api', api.probe),
    },
  );
}

/** One round of raw Queue.add in its own process: added per second, and that process's CPU per 1,000 adds. */
async function rawEnqueueRound(enqueuer: MeasuredBaseline, duration: number): Promise<Round> {
  const before = await enqueuer.probe.read();
  const done = nextMessage<{ added: number; seconds: number }>(
    enqueuer.child,
    (message) => typeof message === 'object' && message !== null && 'added' in message,
  );
  enqueuer.child.send({ seconds: duration });
  const { added, seconds: elapsed } = await done;
  const after = await enqueuer.probe.read();
  return {
    perSecond: added / elapsed,
    cpuMsPer1000: ((after.cpuMs - before.cpuMs) / added) * 1000,
    rssBytes: after.rssBytes,
  };
}

async function enqueueBenchmark(redis: RedisServer): Promise<Comparison> {
  const rawQueue = { redis, prefix: '{bench-raw-enqueue}' };
  const apiQueue = { redis, prefix: '{bench-api-enqueue}' };
  const enqueuer = await forkBaseline(
    'raw-enqueue.mjs',
    { ENQUEUE_CONCURRENCY: String(ENQUEUE_CONCURRENCY), JOB_OPTIONS: JSON.stringify(defaultJobOptions) },
    rawQueue,
  );
  const api = await startMeasuredService('api', apiQueue);
  const post = { method: 'POST' as const, body: JSON.stringify({ type: 'ping', payload: {} }) };
  try {
    return await alternate(
      {
        process: enqueuer,
        round: (warmUp) => rawEnqueueRound(enqueuer, warmUp ? WARM_UP_SECONDS : seconds),
      },
      httpSide(api, `${api.url}/api/job`, post),
      {
        // Every round starts from an empty queue: a growing one would make later rounds slower on both sides.
        beforeEachPass: async () => {
          await obliterate(rawQueue);
          await obliterate(apiQueue);
        },
      },
    );
  } finally {
    await obliterate(rawQueue);
    await obliterate(apiQueue);
  }
}

/**
 * Fill a paused queue with `count` ping jobs, resume, and time until all completed: the consumer's start-up is
 * not part of the measurement, and neither is filling the queue.
 */
async function drainRound(
  { redis, prefix }: BenchQueue,
  probe: ProcessProbe,
  count = jobCount,
): Promise<Round> {
  const queue = new Queue(JOB_QUEUE_NAME, { connection: { url: redis.url }, prefix });
  await queue.pause();
  for (let offset = 0; offset < count; offset += 1000) {
    const batch = Math.min(1000, count - offset);
    await queue.addBulk(
      Array.from({ length: batch }, () => ({
        name: 'ping',
        data: { payload: {}, requestId: 'bench' },
        opts: { ...defaultJobOptions },
      })),
    );
  }
  try {
    const before = await probe.read();
    const started = performance.now();
    await queue.resume();
    // Drained means nothing left to run (a paused queue's jobs count as waiting). Not "count completed":
    // retention (removeOnComplete, at most 10,000 kept) removes completed jobs while a long phase runs.
    await waitFor(
      'the queue to drain',
      async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(counts).every((value) => value === 0);
      },
      300_000,
      20,
    );
    const elapsed = (performance.now() - started) / 1000;
    const after = await probe.read();
    const failed = await queue.getFailedCount();
    if (failed > 0)
      throw new Error(`${failed} no-op jobs failed: the drain rate would not measure completions`);
    return {
      perSecond: count / elapsed,
      cpuMsPer1000: ((after.cpuMs - before.cpuMs) / count) * 1000,
      rssBytes: after.rssBytes,
    };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/** BENCH_JOBS ping jobs drained from `queue` by `consumer`, the warm-up as many as a measured round. */
function drainSide(consumer: MeasuredProcess, queue: BenchQueue): Side {
  return { process: consumer, round: () => drainRound(queue, consumer.probe) };
}

async function workerBenchmark(redis: RedisServer): Promise<Comparison> {
  const rawQueue = { redis, prefix: '{bench-raw-worker}' };
  const workerQueue = { redis, prefix: '{bench-worker}' };
  const concurrency = { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) };
  const raw = await forkBaseline('raw-worker.mjs', concurrency, rawQueue);
  const worker = await startMeasuredService('worker', workerQueue, concurrency);
  return alternate(drainSide(raw, rawQueue), drainSide(worker, workerQueue), {
    idle: () => sampleIdleRss('worker', worker.probe),
  });
}

async function startupBenchmark(redis: RedisServer) {
  const figures: Record<'api' | 'worker', number[]> = { api: [], worker: [] };
  for (const name of ['api', 'worker'] as const) {
    for (let sample = 0; sample < STARTUP_SAMPLES; sample += 1) {
      const started = performance.now();
      const service = await spawnService(name, { redis, prefix: '{bench-startup}' });
      try {
        // Generous: this measures start-up, it does not judge it, and a loaded machine can take seconds.
        await waitFor(
          `${name} /ready`,
          async () => {
            try {
              return (await fetch(`${service.url}/ready`)).status === 200;
            } catch {
              return false;
            }
          },
          120_000,
          5,
        );
        figures[name].push(performance.now() - started);
      } finally {
        await service.stop();
      }
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
const megabytes = (bytes: number) => `${round(bytes / 1024 / 1024, 1)} MB`;
const mebibytes = (bytes: number) => `${round(bytes / 1024 / 1024)} MiB`;
const verdict = (value: number, goal: number, higherIsBetter = true) =>
  (higherIsBetter ? value >= goal : value <= goal) ? 'met' : 'MISSED';

/** Service over baseline, round by round (each pair ran back to back): the median and the spread. */
function ratios(comparison: Comparison) {
  const throughput = comparison.service.map((s, i) => s.perSecond / comparison.baseline[i].perSecond);
  // Higher is better for both ratios: the baseline's CPU per unit over the service's.
  const cpu = comparison.service.map((s, i) => comparison.baseline[i].cpuMsPer1000 / s.cpuMsPer1000);
  const summary = (values: number[]) => ({
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
  });
  return { throughput: summary(throughput), cpu: summary(cpu) };
}

function comparisonRow(
  name: string,
  unit: string,
  baselineName: string,
  comparison: Comparison,
  goal: number,
) {
  const r = ratios(comparison);
  const side = (runs: Round[]) => {
    const latency =
      runs[0].p50Ms === undefined
        ? ''
        : `, p50 ${median(runs.map((x) => x.p50Ms!))} ms, p99 ${median(runs.map((x) => x.p99Ms!))} ms`;
    return `${round(median(runs.map((x) => x.perSecond)))} ${unit}/s, ${round(median(runs.map((x) => x.cpuMsPer1000)))} ms CPU per 1,000${latency}`;
  };
  const spread = (x: { median: number; min: number; max: number }) =>
    `**${round(x.median, 2)}** (${round(x.min, 2)}–${round(x.max, 2)})`;
  return (
    `| ${name} | ${side(comparison.service)} | ${baselineName}: ${side(comparison.baseline)} | ` +
    `${spread(r.cpu)} | ${spread(r.throughput)} | ≥ ${goal}: CPU ${verdict(r.cpu.median, goal)}, ` +
    `req/s ${verdict(r.throughput.median, goal)} |`
  );
}

async function main(): Promise<void> {
  ensureServicesBuilt();
  const loadBefore = loadavg()[0];
  // No automatic AOF rewrite: the POST rounds grow the AOF fast enough to fork Redis 20-odd times a run, a burst of
  // CPU on the other core that landed on random rounds of either side (docs/benchmarks.md).
  const redis = await startRedisServer({
    appendOnly: true,
    appendFsync: 'everysec',
    automaticAofRewrite: false,
  });
  try {
    const status = runs('status') ? await statusBenchmark(redis) : undefined;
    const enqueue = runs('post') ? await enqueueBenchmark(redis) : undefined;
    const worker = runs('worker') ? await workerBenchmark(redis) : undefined;
    const startup = runs('startup') ? await startupBenchmark(redis) : undefined;
    const bundle = bundleSize();

    const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(
      /v=(\S+)/,
    )?.[1];
    const apiRounds = [...(status?.service ?? []), ...(enqueue?.service ?? [])];
    const peakRss = {
      api: apiRounds.length ? Math.max(...apiRounds.map((x) => x.rssBytes)) : undefined,
      worker: worker ? Math.max(...worker.service.map((x) => x.rssBytes)) : undefined,
    };
    const errors = (runs: Round[]) => runs.reduce((sum, x) => sum + (x.errors ?? 0), 0);
    const byRound = (comparison: Comparison) =>
      comparison.service
        .map((s, i) => round(comparison.baseline[i].cpuMsPer1000 / s.cpuMsPer1000, 2))
        .join(' ');
    const rssRow = (name: 'api' | 'worker') =>
      peakRss[name] === undefined
        ? []
        : [
            `| RSS, ${name} | idle ${idleRss[name] ? mebibytes(idleRss[name]) : 'not sampled'}, peak under load ${mebibytes(peakRss[name])} | | | | below the pod limit |`,
          ];
    const lines = [
      `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim()}, ${round(totalmem() / 1024 ** 3)} GiB, Node ${process.versions.node}, Redis ${redisVersion} (private, AOF on, appendfsync everysec, no automatic AOF rewrite).`,
      `Machine load average (1 min) ${round(loadBefore, 1)} before, ${round(loadavg()[0], 1)} after: other work on the machine shares the ${cpus().length} cores.`,
      `${rounds} alternating rounds per comparison after a warm-up; ratios are the median over the rounds with the min–max in brackets, higher is better. HTTP rounds: ${seconds} s, ${HTTP_CONNECTIONS} connections (autocannon, same machine). Worker rounds: ${jobCount} jobs, concurrency ${WORKER_CONCURRENCY}. CPU = user + system time of the server process, as the process counts it.${only.length < PARTS.length ? ` Parts run (BENCH_ONLY): ${only.join(', ')}.` : ''}`,
      '',
      '| measure | OpsForge | baseline (same run) | CPU ratio (baseline CPU / OpsForge CPU per 1,000) | req/s ratio | goal |',
      '| --- | --- | --- | --- | --- | --- |',
      ...(status ? [comparisonRow('GET /api/status', 'req', 'bare Fastify, same JSON', status, 0.45)] : []),
      ...(enqueue
        ? [
            comparisonRow(
              'POST /api/job',
              'req',
              `raw Queue.add × ${ENQUEUE_CONCURRENCY} concurrent`,
              enqueue,
              0.35,
            ),
          ]
        : []),
      ...(worker ? [comparisonRow('worker, no-op jobs', 'jobs', 'raw BullMQ Worker', worker, 0.85)] : []),
      ...(startup
        ? (['api', 'worker'] as const).map(
            (name) =>
              `| start → /ready = 200 (${name}) | median ${round(median(startup[name]))} ms, max ${round(Math.max(...startup[name]))} ms (${STARTUP_SAMPLES} starts) | | | | ≤ 1000 ms: ${verdict(Math.max(...startup[name]), 1000, false)} |`,
          )
        : []),
      ...rssRow('api'),
      ...rssRow('worker'),
      `| production bundle | api bundle ${megabytes(bundle.bundles.api)}, worker bundle ${megabytes(bundle.bundles.worker)}; production node_modules ${megabytes(bundle.productionDependencyBytes)} (${bundle.packages} packages); per image ${megabytes(bundle.bundles.api + bundle.productionDependencyBytes)} | | | | report |`,
      '',
      `Errors or non-2xx answers during the HTTP rounds: status ${status ? `${errors(status.service)} (baseline ${errors(status.baseline)})` : 'not run'}, enqueue ${enqueue ? errors(enqueue.service) : 'not run'}.`,
      '',
      `Round by round (service/baseline CPU ratio): status ${status ? byRound(status) : 'not run'}; enqueue ${enqueue ? byRound(enqueue) : 'not run'}; worker ${worker ? byRound(worker) : 'not run'}.`,
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
