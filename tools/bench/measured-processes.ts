/**
 * The processes `npm run bench` measures, each with a probe of its own CPU time and RSS as the process itself
 * counts them: the built services (logging at `info` into a file, metrics on, optionally under --cpu-prof) and
 * the baselines (scripts in this folder, forked with an IPC channel that cpu-probe.mjs answers).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { type RedisServer, type RunningService, type ServiceName, startService } from '@opsforge/harness';

/** Where a server process's own CPU time (ms) and RSS (bytes) come from. */
export interface ProcessProbe {
  read(): Promise<{ cpuMs: number; rssBytes: number }>;
}

export interface MeasuredProcess {
  probe: ProcessProbe;
  stop(): Promise<void>;
}

export interface MeasuredService extends MeasuredProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
}

export interface MeasuredBaseline extends MeasuredProcess {
  child: ChildProcess;
}

/** The queue a side of a comparison works on: the benchmark's private Redis, under a prefix of its own. */
export interface BenchQueue {
  redis: RedisServer;
  prefix: string;
}

/**
 * BENCH_CPU_PROF=<directory> runs the services under `node --cpu-prof`, writing one .cpuprofile per service
 * process there when it stops (open in Chrome DevTools, or summarise with tools/bench/profile-summary.mjs).
 * Profiling slows the services down: figures from such a run are for finding costs, not for the report.
 */
const profileEnv: Record<string, string> = process.env.BENCH_CPU_PROF
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(process.env.BENCH_CPU_PROF)}` }
  : {};

/** What a service or a baseline needs to find its queue. */
function queueEnv(queue: BenchQueue): Record<string, string> {
  return { REDIS_URL: queue.redis.url, QUEUE_PREFIX: queue.prefix };
}

/**
 * A built service on `queue`, logging every request and job at `info` to a file (it formats and writes every
 * line, the benchmark does not read them) with metrics on: its figures come from its own /metrics, where
 * prom-client reads process.cpuUsage() and RSS at each scrape.
 */
export async function startMeasuredService(
  name: ServiceName,
  queue: BenchQueue,
  env: Record<string, string> = {},
): Promise<MeasuredService> {
  const service = await startService(name, {
    env: { ...queueEnv(queue), LOG_LEVEL: 'info', ...env, ...profileEnv },
    captureLogs: false,
  });
  return {
    url: service.url,
    probe: {
      async read() {
        const text = await (await fetch(`${service.url}/metrics`)).text();
        const value = (metric: string) => {
          const match = new RegExp(`^${metric} (\\S+)`, 'm').exec(text);
          if (!match) throw new Error(`${name} /metrics has no ${metric}`);
          return Number(match[1]);
        };
        return {
          cpuMs: (value('process_cpu_user_seconds_total') + value('process_cpu_system_seconds_total')) * 1000,
          rssBytes: value('process_resident_memory_bytes'),
        };
      },
    },
    stop: async () => {
      await service.stop();
    },
  };
}

/**
 * A built service on `queue`, spawned without waiting for it to serve (at its default log level, into a file):
 * for timing its start-up from the spawn.
 */
export function spawnService(name: ServiceName, queue: BenchQueue): Promise<RunningService> {
  return startService(name, { env: queueEnv(queue), waitUntil: 'none', captureLogs: false });
}

export function nextMessage<T>(child: ChildProcess, accept: (message: unknown) => boolean): Promise<T> {
  return new Promise((resolveMessage) => {
    const listener = (message: unknown) => {
      if (!accept(message)) return;
      child.off('message', listener);
      resolveMessage(message as T);
    };
    child.on('message', listener);
  });
}

/**
 * A baseline script of this folder, forked with `env` (and `queue`'s Redis and prefix when it works on one); it
 * says 'ready' once it serves, and answers 'cpu' with its own process.cpuUsage() and RSS (cpu-probe.mjs).
 */
export async function forkBaseline(
  script: string,
  env: Record<string, string>,
  queue?: BenchQueue,
): Promise<MeasuredBaseline> {
  const child = fork(join(__dirname, script), [], {
    env: { ...process.env, ...(queue ? queueEnv(queue) : {}), ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await once(child, 'message');
  return {
    child,
    probe: {
      async read() {
        const answer = nextMessage<{ cpuMicros: number; rssBytes: number }>(
          child,
          (message) => typeof message === 'object' && message !== null && 'cpuMicros' in message,
        );
        child.send('cpu');
        const { cpuMicros, rssBytes } = await answer;
        return { cpuMs: cpuMicros / 1000, rssBytes };
      },
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
