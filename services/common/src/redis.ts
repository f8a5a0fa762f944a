import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { RedisNodeAddress, RedisSettings } from './redis-config';

/**
 * The two ways OpsForge talks to Redis.
 *
 * - `producer` (the API): fail fast. No offline queue and a short command timeout, so with Redis down a request
 *   gets a 503 in well under a second instead of hanging until the client's own timeout.
 * - `consumer` (the worker): wait out an outage. `maxRetriesPerRequest: null` keeps BullMQ's blocking commands
 *   alive across reconnects, as BullMQ requires for workers.
 *
 * Both reconnect forever with a capped backoff, so a service recovers by itself when Redis returns.
 */
export type RedisRole = 'producer' | 'consumer';

export const PRODUCER_COMMAND_TIMEOUT_MS = 800;

function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 5), 2000);
}

/** What the connection code needs of a service's config: the Redis settings and whose connection it is. */
export type RedisClientConfig = RedisSettings & { app: 'api' | 'worker' };

/** The client both services hold: one Redis connection (standalone, sentinel) or a Cluster client. */
export type RedisConnection = Redis | Cluster;

function roleOptions(role: RedisRole): Partial<RedisOptions> {
  return role === 'producer'
    ? { maxRetriesPerRequest: 1, connectTimeout: 1000, commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS }
    : { maxRetriesPerRequest: null, connectTimeout: 5000 };
}

export function redisConnectionOptions(config: RedisClientConfig, role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    password: config.REDIS_PASSWORD,
    connectionName: `opsforge-${config.app}`,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: role === 'consumer',
    ...roleOptions(role),
  };
  if (config.REDIS_MODE === 'sentinel') {
    return {
      ...common,
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_MASTER_NAME,
      sentinelPassword: config.REDIS_SENTINEL_PASSWORD,
      // ioredis checks ROLE on every connection and refuses a node that is no longer the primary, so a client
      // never writes to a demoted primary; the failover detector subscribes to the sentinels' +switch-master and
      // reconnects at once instead of when the old primary's connection times out (a partition, not a crash).
      role: 'master',
      failoverDetector: true,
      // A sentinel that does not answer costs the API at most this before it tries the next one.
      sentinelCommandTimeout: role === 'producer' ? 500 : 2000,
      sentinelRetryStrategy: reconnectDelay,
      ...(config.REDIS_TLS ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    };
  }
  const url = new URL(config.REDIS_URL);
  return {
    ...common,
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    // A password in a Secret (REDIS_PASSWORD) wins over one embedded in the URL, which is only for local use.
    password: config.REDIS_PASSWORD ?? (url.password ? decodeURIComponent(url.password) : undefined),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? { servername: url.hostname } : undefined,
  };
}

export function redisClusterOptions(config: RedisClientConfig, role: RedisRole): ClusterOptions {
  return {
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue: role === 'consumer',
    // The queue lives in one slot: after a shard's failover the client must learn the new owner quickly.
    slotsRefreshTimeout: 1000,
    redisOptions: {
      password: config.REDIS_PASSWORD,
      connectionName: `opsforge-${config.app}`,
      ...(config.REDIS_TLS ? { tls: {} } : {}),
      ...roleOptions(role),
    },
  };
}

/** A new client for the configured topology; it connects at once and reconnects by itself. */
export function createRedisConnection(config: RedisClientConfig, role: RedisRole): RedisConnection {
  if (config.REDIS_MODE === 'cluster')
    return new Cluster(config.REDIS_CLUSTER_NODES ?? [], redisClusterOptions(config, role));
  return new Redis(redisConnectionOptions(config, role));
}

/** Where the service's Redis is, for log lines: never a password. */
export function describeRedis(config: RedisClientConfig): string {
  const list = (nodes: RedisNodeAddress[] = []) => nodes.map(({ host, port }) => `${host}:${port}`).join(',');
  if (config.REDIS_MODE === 'sentinel')
    return `sentinel://${list(config.REDIS_SENTINELS)}/${config.REDIS_SENTINEL_MASTER_NAME}`;
  if (config.REDIS_MODE === 'cluster') return `cluster://${list(config.REDIS_CLUSTER_NODES)}`;
  const url = new URL(config.REDIS_URL);
  return `${url.protocol}//${url.hostname}:${url.port || 6379}${url.pathname.length > 1 ? url.pathname : ''}`;
}

/**
 * Block until `replicas` replicas have every write this connection made so far (Redis WAIT), at most
 * `timeoutMs`; resolve with how many did. WAIT must run on the connection that wrote: in cluster mode that is the
 * connection to the primary holding `key`'s slot, which a pipeline led by a command on `key` is routed to.
 */
export async function waitForReplicas(
  connection: RedisConnection,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  if (!(connection instanceof Cluster)) return (await connection.call('WAIT', replicas, timeoutMs)) as number;
  const replies = await connection.pipeline().exists(key).call('WAIT', replicas, timeoutMs).exec();
  const [error, acknowledged] = replies?.[1] ?? [new Error('WAIT got no reply'), 0];
  if (error) throw error;
  return acknowledged as number;
}

const heldUntilCheckPhase = new WeakSet<object>();

/**
 * Send every command this event-loop turn issues on `connection` in one socket write, at the turn's check phase
 * (setImmediate), instead of one write per command. Under concurrent load the requests whose bodies arrived in
 * the same poll phase then share one write to Redis, and Redis answers them in one read: the batching of
 * concurrent adds, with every command keeping its own reply and error (nothing is merged or made atomic).
 * ioredis' own `enableAutoPipelining` does the same through a Pipeline object per batch, which costs more than it
 * saves here. One socket per standalone or sentinel connection; a Cluster client writes to a socket per node and
 * is left as it is.
 */
export function coalesceWritesThisTurn(connection: RedisConnection): void {
  if (!(connection instanceof Redis)) return;
  const stream = connection.stream;
  if (stream === undefined || heldUntilCheckPhase.has(stream)) return;
  heldUntilCheckPhase.add(stream);
  stream.cork();
  setImmediate(() => {
    heldUntilCheckPhase.delete(stream);
    stream.uncork();
  });
}

/**
 * Settle as `promise` does, or reject after `ms` with a message naming what timed out; bounds every Redis call a
 * request or a probe makes. One promise and one timer per call (not a race of two promises and a `finally`): it
 * runs once per `POST /api/job`.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
