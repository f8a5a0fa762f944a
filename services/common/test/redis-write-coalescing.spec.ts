import { Redis } from 'ioredis';
import { deleteQueueKeys, sharedRedisUrl, testQueuePrefix } from '@opsforge/harness';
import { coalesceWritesThisTurn } from '../src/redis';

// The API sends the Redis commands of one event-loop turn in one write (coalesceWritesThisTurn). What a client
// notices must not change: each command still gets its own answer, a failing one fails alone, and nothing waits
// longer than the turn.
describe('coalescing the Redis writes of one event-loop turn', () => {
  const prefix = testQueuePrefix('coalesce');
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(sharedRedisUrl(), { maxRetriesPerRequest: 1 });
    await redis.ping();
  });

  afterAll(async () => {
    await deleteQueueKeys(sharedRedisUrl(), prefix);
    await redis.quit();
  });

  it('holds the turn’s commands in one write and answers each one on its own, errors included', async () => {
    const key = `${prefix}:string`;
    coalesceWritesThisTurn(redis);
    coalesceWritesThisTurn(redis); // a second call in the same turn changes nothing
    const set = redis.set(key, 'stored');
    const wrongType = redis.hget(key, 'field'); // WRONGTYPE: a string is not a hash
    const get = redis.get(key);
    // Nothing has left the process yet: the socket is corked until the turn's check phase.
    expect(redis.stream.writableCorked).toBe(1);
    expect(redis.stream.writableLength).toBeGreaterThan(0);

    await expect(set).resolves.toBe('OK');
    await expect(wrongType).rejects.toThrow(/WRONGTYPE/);
    await expect(get).resolves.toBe('stored');
    expect(redis.stream.writableCorked).toBe(0);
  });

  it('lets the commands of a later turn go out by themselves', async () => {
    coalesceWritesThisTurn(redis);
    await redis.set(`${prefix}:first`, '1');
    await new Promise((resolve) => setImmediate(resolve));
    // A new turn without a call: written at once.
    const pending = redis.get(`${prefix}:first`);
    expect(redis.stream.writableCorked).toBe(0);
    await expect(pending).resolves.toBe('1');
  });
});
