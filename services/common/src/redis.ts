import type { RedisOptions } from 'ioredis';
import type { SharedConfig } from './config';

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

export function redisConnectionOptions(config: SharedConfig, role: RedisRole): RedisOptions {
  const url = new URL(config.REDIS_URL);
  const database = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const base: RedisOptions = {
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    // A password in a Secret (REDIS_PASSWORD) wins over one embedded in the URL, which is only for local use.
    password: config.REDIS_PASSWORD ?? (url.password ? decodeURIComponent(url.password) : undefined),
    db: database,
    tls: url.protocol === 'rediss:' ? { servername: url.hostname } : undefined,
    connectionName: `opsforge-${config.app}`,
    retryStrategy: reconnectDelay,
  };
  if (role === 'producer') {
    return {
      ...base,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 1000,
      commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    };
  }
  return { ...base, maxRetriesPerRequest: null, connectTimeout: 5000 };
}

/** `host:port/db` for log lines: never the password. */
export function describeRedis(config: SharedConfig): string {
  const url = new URL(config.REDIS_URL);
  return `${url.protocol}//${url.hostname}:${url.port || 6379}${url.pathname.length > 1 ? url.pathname : ''}`;
}

/** Reject after `ms` with a message naming what timed out; used to bound every Redis call a probe makes. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
