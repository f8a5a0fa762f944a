import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface RedisServerOptions {
  /** Turn on AOF (append-only file), so data survives `kill()` + `restart()`. */
  appendOnly?: boolean;
  /** AOF fsync policy: `always` (default here: nothing acknowledged is lost on SIGKILL) or Redis' own `everysec`. */
  appendFsync?: 'always' | 'everysec';
  /**
   * Let Redis rewrite the AOF by itself when it has doubled (its default, on unless `false`). A rewrite forks Redis
   * and copies the whole dataset on the other core: a benchmark that writes a job queue fast triggers one every
   * second or two, and each lands on whichever round is running.
   */
  automaticAofRewrite?: boolean;
}

export interface RedisServer {
  port: number;
  url: string;
  /** Data directory (AOF files live here); deleted by `stop()`. */
  dir: string;
  /** SHUTDOWN-like stop (SIGTERM) keeping the data dir, to be `restart()`ed. */
  pause(): Promise<void>;
  /** SIGKILL: the server dies at once, as in a node failure; `restart()` brings it back from its AOF. */
  kill(): Promise<void>;
  /** Start again on the same port with the same data directory. */
  restart(): Promise<void>;
  /** Stop for good and delete the data directory. */
  stop(): Promise<void>;
}

/** How every redis-server the harness starts runs: on loopback, its data in `dir`, no RDB snapshots. */
export function loopbackRedisArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
}

/** A private redis-server on a spare port, for tests that must stop, kill or restart Redis. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'opsforge-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    ...loopbackRedisArgs(port, dir),
    '--daemonize',
    'no',
    '--maxmemory-policy',
    'noeviction',
    ...(options.appendOnly
      ? ['--appendonly', 'yes', '--appendfsync', options.appendFsync ?? 'always']
      : ['--appendonly', 'no']),
    ...(options.automaticAofRewrite === false ? ['--auto-aof-rewrite-percentage', '0'] : []),
  ];
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child = started;
    await waitFor(`redis-server on port ${port} to answer PING`, async () => {
      if (started.exitCode !== null)
        throw new Error(`redis-server exited with ${started.exitCode}: ${output.slice(-500)}`);
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    });
  }

  async function signal(name: NodeJS.Signals): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(name);
    await exited;
  }

  await launch();
  return {
    port,
    url,
    dir,
    pause: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGTERM');
      await launch();
    },
    stop: async () => {
      await signal('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
