import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports';
import { waitFor } from './wait';

export type ServiceName = 'api' | 'worker';

/** One JSON log line as the service wrote it (`level`, `app`, `msg`, `requestId`, `jobId`, ...). */
export type LogLine = Record<string, unknown> & { level?: string; msg?: string };

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartServiceOptions {
  /** Environment for the process on top of PATH/HOME; PORT is chosen here unless given. */
  env?: Record<string, string | undefined>;
  /** `ready` (default): wait for GET /ready = 200; `health`: only for /health = 200; `none`: return at once. */
  waitUntil?: 'ready' | 'health' | 'none';
  timeoutMs?: number;
  /**
   * `true` (default): parse stdout into `logs`. `false`: stdout goes to a file instead, so that a benchmark does
   * not spend its own CPU reading the service's logs (the service still formats and writes every line).
   */
  captureLogs?: boolean;
}

export interface RunningService {
  name: ServiceName;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  process: ChildProcess;
  /** Every JSON line written to stdout so far, parsed. */
  logs: LogLine[];
  /** stdout lines that were not JSON, and everything on stderr. */
  rawOutput: string[];
  /** Resolves with the first log line (already written or still to come) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Send `signal` (default SIGTERM) and resolve with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<ExitResult>;
  /** Resolves when the process exits by itself. */
  exited: Promise<ExitResult>;
}

const repositoryRoot = resolve(__dirname, '..', '..');

let builtInThisProcess = false;

/**
 * Every service this test process started and that has not exited yet. A spec whose set-up fails halfway (one
 * of two services never becomes ready) loses the handle of the one that did start; jest-cleanup.ts stops what
 * is left after each test file, so a leftover process can neither keep jest from exiting nor work a later
 * suite's queue.
 */
const runningServices = new Set<RunningService>();

/** Stops every service still running (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopAllServices(graceMs = 10_000): Promise<void> {
  await Promise.all(
    [...runningServices].map(async (service) => {
      const killer = setTimeout(() => service.process.kill('SIGKILL'), graceMs);
      await service.stop();
      clearTimeout(killer);
    }),
  );
}

/**
 * Bring services/api/dist/main.js and services/worker/dist/main.js up to date with their sources, as
 * `npm run build` does (incremental `tsc -b`, then the bundle; under a second when nothing changed). Serialized
 * across parallel jest workers and engineers by a file lock.
 */
export function ensureServicesBuilt(): void {
  if (builtInThisProcess) return;
  const tsc = join(repositoryRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = [
    `"${process.execPath}" "${tsc}" -b services/api/tsconfig.build.json services/worker/tsconfig.build.json`,
    `"${process.execPath}" services/bundle.mjs`,
  ].join(' && ');
  const result = spawnSync('flock', [join(tmpdir(), 'opsforge-services-build.lock'), 'sh', '-c', build], {
    cwd: repositoryRoot,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(
      `building the services failed:\n${result.stdout}${result.stderr}${result.error?.message ?? ''}`,
    );
  }
  builtInThisProcess = true;
}

/** GET without keep-alive: a pooled socket would keep jest's event loop alive after the suite ends. */
function answers(url: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const probe = get(url, { agent: false, timeout: 1000 }, (response) => {
      response.resume();
      response.on('end', () => resolveAnswer(response.statusCode === 200));
    });
    probe.on('timeout', () => probe.destroy());
    probe.on('error', () => resolveAnswer(false));
  });
}

/** Spawn `node services/<name>/dist/main.js` as a real process; see StartServiceOptions. */
export async function startService(
  name: ServiceName,
  options: StartServiceOptions = {},
): Promise<RunningService> {
  ensureServicesBuilt();
  const port = options.env?.PORT ? Number(options.env.PORT) : await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    LOG_LEVEL: 'info',
  };
  for (const [key, value] of Object.entries({ ...options.env, PORT: String(port) }))
    if (value !== undefined) env[key] = value;

  const captureLogs = options.captureLogs ?? true;
  const logDir = captureLogs ? undefined : mkdtempSync(join(tmpdir(), `opsforge-${name}-`));
  const logFile = logDir === undefined ? undefined : openSync(join(logDir, 'stdout.log'), 'w');
  const child = spawn(process.execPath, [join(repositoryRoot, 'services', name, 'dist', 'main.js')], {
    cwd: repositoryRoot,
    env,
    stdio: ['ignore', logFile ?? 'pipe', 'pipe'],
  });
  if (logFile !== undefined) closeSync(logFile);
  if (logDir !== undefined) child.once('exit', () => rmSync(logDir, { recursive: true, force: true }));
  const logs: LogLine[] = [];
  const rawOutput: string[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();

  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        rawOutput.push(text);
        return;
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  createInterface({ input: child.stderr! }).on('line', (text) => rawOutput.push(text));

  const exited: Promise<ExitResult> =
    child.exitCode !== null
      ? Promise.resolve({ code: child.exitCode, signal: null })
      : once(child, 'exit').then(([code, signal]) => ({
          code: code as number | null,
          signal: signal as NodeJS.Signals | null,
        }));

  const service: RunningService = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    process: child,
    logs,
    rawOutput,
    exited,
    waitForLog(predicate, timeoutMs = 10_000) {
      const seen = logs.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolveLine, reject) => {
        const waiter = { predicate, resolve: resolveLine };
        waiters.add(waiter);
        setTimeout(() => {
          if (waiters.delete(waiter))
            reject(
              new Error(
                `${name}: no matching log line within ${timeoutMs} ms; last lines:\n${logs
                  .slice(-5)
                  .map((l) => JSON.stringify(l))
                  .join('\n')}`,
              ),
            );
        }, timeoutMs).unref();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };

  runningServices.add(service);
  void exited.then(() => runningServices.delete(service));

  const waitUntil = options.waitUntil ?? 'ready';
  if (waitUntil !== 'none') {
    const path = waitUntil === 'ready' ? '/ready' : '/health';
    try {
      await waitFor(
        `${name} ${path} = 200`,
        async () => {
          if (child.exitCode !== null)
            throw new Error(
              `${name} exited with code ${child.exitCode}: ${[...rawOutput, ...logs.map((l) => JSON.stringify(l))].slice(-5).join('\n')}`,
            );
          return answers(`${service.url}${path}`);
        },
        options.timeoutMs ?? 15_000,
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }
  return service;
}

/** What a fixture starts for its test file: `startService` on the fixture's environment, and the kill at the end. */
export interface FixtureServices {
  /** `startService` with the fixture's env (the options' env on top). */
  start(name: ServiceName, options?: StartServiceOptions): Promise<RunningService>;
  /** SIGKILL for every service started here that still runs (a test wanting a clean exit stops it itself). */
  killAll(): Promise<void>;
}

export function fixtureServices(env: () => Record<string, string>): FixtureServices {
  const started: RunningService[] = [];
  return {
    async start(name, options = {}) {
      const service = await startService(name, { ...options, env: { ...env(), ...options.env } });
      started.push(service);
      return service;
    },
    async killAll() {
      await Promise.all(started.map((service) => service.stop('SIGKILL')));
    },
  };
}
