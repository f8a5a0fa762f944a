import { Redis } from 'ioredis';
import { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server';
import { fixtureServices, type RunningService, type ServiceName, type StartServiceOptions } from './services';

/** A redis-server of a test file's own, and what the file starts on it. */
export interface OwnRedis {
  /** The server: kill, pause or restart it. */
  readonly server: RedisServer;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** A client on it for reading what the services wrote (one retry per command), connected on first use. */
  readonly client: Redis;
  /** `startService` with REDIS_URL set to this server (the options' env on top). */
  startService(name: ServiceName, options?: StartServiceOptions): Promise<RunningService>;
}

/**
 * A private redis-server (`startRedisServer(options)`) for the test file or describe block this is called in, for
 * tests that kill, pause or restart Redis or change its settings, which the shared Redis must never see. Started
 * in beforeAll; in afterAll every service started through it that still runs is killed (SIGKILL: a test that wants
 * to see a clean exit stops the service itself), then the client is closed and the server stopped.
 */
export function useOwnRedis(options: RedisServerOptions = {}): OwnRedis {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  const running = (): RedisServer => {
    if (!server)
      throw new Error('useOwnRedis(): the server starts in beforeAll; use it inside a hook or a test');
    return server;
  };
  const services = fixtureServices(() => ({ REDIS_URL: running().url }));

  beforeAll(async () => {
    server = await startRedisServer(options);
  });
  afterAll(async () => {
    await services.killAll();
    client?.disconnect();
    await server?.stop();
  });

  return {
    get server() {
      return running();
    },
    get url() {
      return running().url;
    },
    get client() {
      client ??= new Redis(running().url, { maxRetriesPerRequest: 1 });
      return client;
    },
    startService: services.start,
  };
}
