import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports';
import { loopbackRedisArgs } from './redis-server';
import { waitFor } from './wait';

/**
 * A Sentinel-managed Redis on this machine, with the settings production renders (gitops/envs/prod/redis):
 * a primary and replicas as real `redis-server` processes, watched by real `redis-sentinel` processes, every one
 * password-protected (the data nodes and the sentinels have separate passwords, as in the cluster). For the
 * failover chaos experiment: kill the primary and watch the sentinels promote a replica.
 */

export interface SentinelGroupOptions {
  replicas?: number;
  sentinels?: number;
  quorum?: number;
  /** How long a primary must be unreachable before a sentinel calls it down (production: 5000). */
  downAfterMs?: number;
}

export interface GroupNode {
  port: number;
  /** `redis://:<password>@127.0.0.1:<port>`: for test-side probes that talk to one node on purpose. */
  url: string;
  process: ChildProcess;
  /** SIGKILL: the node dies at once, as when its Kubernetes node fails. */
  kill(): Promise<void>;
}

export interface SentinelGroup {
  masterName: string;
  password: string;
  sentinelPassword: string;
  nodes: GroupNode[];
  sentinelPorts: number[];
  /** The services' environment for this group (REDIS_MODE=sentinel and its variables). */
  serviceEnv: Record<string, string>;
  /** The node the sentinels currently name as primary. */
  primary(): Promise<GroupNode>;
  /** SENTINEL MASTER's fields as one sentinel sees them. */
  masterState(sentinelPort: number): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

// Production's replication safety (gitops/envs/prod/redis/redis-replication.yaml): the primary refuses writes
// unless a replica acknowledged within 10 s, so a primary cut off from its replicas stops taking writes that a
// failover elsewhere would discard.
const PRODUCTION_REPLICATION_SETTINGS = [
  '--min-replicas-to-write',
  '1',
  '--min-replicas-max-lag',
  '10',
  '--appendonly',
  'yes',
  '--appendfsync',
  'everysec',
  '--maxmemory-policy',
  'noeviction',
];

function spawnLogged(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

async function killProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

function client(port: number, password: string): Redis {
  const connection = new Redis({
    port,
    host: '127.0.0.1',
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  connection.on('error', () => undefined);
  return connection;
}

async function ask<T>(port: number, password: string, call: (connection: Redis) => Promise<T>): Promise<T> {
  const connection = client(port, password);
  try {
    await connection.connect();
    return await call(connection);
  } finally {
    connection.disconnect();
  }
}

function pairs(flat: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index + 1 < flat.length; index += 2) result[flat[index]] = flat[index + 1];
  return result;
}

export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = options.quorum ?? 2;
  const masterName = 'opsforge';
  const password = `data-${process.pid}-${Date.now()}`;
  const sentinelPassword = `sentinel-${process.pid}-${Date.now()}`;
  const dir = mkdtempSync(join(tmpdir(), 'opsforge-sentinel-group-'));
  const nodes: GroupNode[] = [];
  const sentinels: { port: number; child: ChildProcess }[] = [];

  const stop = async (): Promise<void> => {
    await Promise.all([
      ...nodes.map((node) => killProcess(node.process, 'SIGKILL')),
      ...sentinels.map((sentinel) => killProcess(sentinel.child, 'SIGKILL')),
    ]);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const primaryPort = await freePort();
    for (let index = 0; index <= replicaCount; index++) {
      const port = index === 0 ? primaryPort : await freePort();
      const nodeDir = join(dir, `node-${port}`);
      mkdirSync(nodeDir);
      const args = [
        ...loopbackRedisArgs(port, nodeDir),
        '--requirepass',
        password,
        '--masterauth',
        password,
        ...PRODUCTION_REPLICATION_SETTINGS,
        ...(index === 0 ? [] : ['--replicaof', '127.0.0.1', String(primaryPort)]),
      ];
      const { child, output } = spawnLogged('redis-server', args);
      nodes.push({
        port,
        url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
        process: child,
        kill: () => killProcess(child, 'SIGKILL'),
      });
      await waitFor(`redis-server on ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${output()}`);
        return (await ask(port, password, (connection) => connection.ping()).catch(() => '')) === 'PONG';
      });
    }
    await waitFor(
      `${replicaCount} replicas in sync with the primary`,
      async () => {
        const info = await ask(primaryPort, password, (connection) => connection.info('replication'));
        return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicaCount;
      },
      30_000,
      200,
    );

    for (let index = 0; index < sentinelCount; index++) {
      const port = await freePort();
      const configFile = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its own config file (discovered peers, epochs), so each gets a writable one.
      writeFileSync(
        configFile,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'daemonize no',
          `dir ${dir}`,
          `requirepass ${sentinelPassword}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} ${quorum}`,
          `sentinel auth-pass ${masterName} ${password}`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 5000}`,
          // Production's failoverTimeout (gitops/envs/prod/redis/redis-sentinel.yaml).
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const { child, output } = spawnLogged('redis-sentinel', [configFile]);
      sentinels.push({ port, child });
      await waitFor(`redis-sentinel on ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-sentinel exited: ${output()}`);
        return (
          (await ask(port, sentinelPassword, (connection) => connection.ping()).catch(() => '')) === 'PONG'
        );
      });
    }
    const group: SentinelGroup = {
      masterName,
      password,
      sentinelPassword,
      nodes,
      sentinelPorts: sentinels.map(({ port }) => port),
      serviceEnv: {
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','),
        REDIS_SENTINEL_MASTER_NAME: masterName,
        REDIS_PASSWORD: password,
        REDIS_SENTINEL_PASSWORD: sentinelPassword,
      },
      masterState: async (sentinelPort) =>
        pairs(
          (await ask(sentinelPort, sentinelPassword, (connection) =>
            connection.call('SENTINEL', 'MASTER', masterName),
          )) as string[],
        ),
      primary: async () => {
        for (const { port } of sentinels) {
          const address = (await ask(port, sentinelPassword, (connection) =>
            connection.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName),
          ).catch(() => undefined)) as [string, string] | undefined;
          const node = nodes.find((candidate) => String(candidate.port) === address?.[1]);
          if (node) return node;
        }
        throw new Error('no sentinel names a primary');
      },
      stop,
    };
    // Sentinels find the replicas through the primary and each other through its hello channel (every 2 s);
    // until each sees the whole group, a failover could not reach quorum.
    await waitFor(
      'every sentinel to see the replicas and the other sentinels',
      async () => {
        const states = await Promise.all(group.sentinelPorts.map((port) => group.masterState(port)));
        return states.every(
          (state) =>
            Number(state['num-slaves']) === replicaCount &&
            Number(state['num-other-sentinels']) === sentinelCount - 1,
        );
      },
      30_000,
      250,
    );
    return group;
  } catch (error) {
    await stop();
    throw error;
  }
}
