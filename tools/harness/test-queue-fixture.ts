import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { openQueue } from './job-effects-probe';
import { type TestQueue, testQueue } from './queue-prefix';
import { fixtureServices, type RunningService, type ServiceName, type StartServiceOptions } from './services';

/** A test queue on the shared Redis, and what a test file starts and opens on it. */
export interface TestQueueFixture extends TestQueue {
  /** `startService` with REDIS_URL and QUEUE_PREFIX set to this queue (the options' env on top). */
  startService(name: ServiceName, options?: StartServiceOptions): Promise<RunningService>;
  /** BullMQ's handle on the queue (`openQueue`), opened on first use. */
  readonly queue: Queue;
  /** A client on the shared Redis for reading what the services wrote under the prefix, connected on first use. */
  readonly client: Redis;
}

/**
 * `testQueue(label)` for the test file or describe block this is called in: a fresh prefix on the shared Redis,
 * the services started on it, a queue handle and a client. In afterAll the services that still run are killed
 * (SIGKILL: a test that wants to see a clean exit stops the service itself), the handles closed, and every key
 * under the prefix deleted, so the shared Redis is left as found.
 */
export function useTestQueue(label: string): TestQueueFixture {
  const base = testQueue(label);
  const services = fixtureServices(() => base.env);
  let queue: Queue | undefined;
  let client: Redis | undefined;

  afterAll(async () => {
    await services.killAll();
    await queue?.close();
    client?.disconnect();
    await base.deleteKeys();
  });

  return {
    ...base,
    get queue() {
      queue ??= openQueue(base.redisUrl, base.prefix);
      return queue;
    },
    get client() {
      client ??= new Redis(base.redisUrl, { maxRetriesPerRequest: 1 });
      return client;
    },
    startService: services.start,
  };
}
