import request from 'supertest';
import { useOwnRedis, type RunningService, waitFor } from '@opsforge/harness';

// A Redis this test owns, stopped and restarted under a running API and worker: the API fails fast and says
// why, neither process dies, and both recover on their own.
const redis = useOwnRedis({ appendOnly: true });
let api: RunningService;
let worker: RunningService;

beforeAll(async () => {
  const env = { QUEUE_PREFIX: '{opsforge}' };
  [api, worker] = await Promise.all([
    redis.startService('api', { env }),
    redis.startService('worker', { env }),
  ]);
});

it('answers 503 fast while Redis is down, stays alive, and recovers when Redis returns', async () => {
  await redis.server.pause();

  const started = Date.now();
  const refused = await request(api.url).post('/api/job').send({ type: 'ping', payload: {} });
  expect(Date.now() - started).toBeLessThan(1000);
  expect(refused.status).toBe(503);
  expect(refused.body).toMatchObject({
    statusCode: 503,
    dependency: 'redis',
    message: expect.stringContaining('Redis'),
  });

  const notReady = await request(api.url).get('/ready').expect(503);
  expect(notReady.body.error.redis).toMatchObject({ status: 'down', message: expect.any(String) });
  await waitFor(
    'the worker to report not ready',
    async () => (await request(worker.url).get('/ready')).status === 503,
    5000,
  );
  // Liveness stays green: restarting pods would not bring Redis back.
  await request(api.url).get('/health').expect(200);
  await request(worker.url).get('/health').expect(200);
  const status = await request(api.url).get('/api/status').expect(200);
  expect(status.body.queue).toMatchObject({
    counts: null,
    error: expect.stringContaining('Redis unavailable'),
  });
  const metrics = await request(api.url).get('/metrics').expect(200);
  expect(metrics.text).toMatch(/^jobs_enqueued_total\{job_type="ping",outcome="error"\} 1$/m);

  await redis.server.restart();

  await waitFor(
    'the api to be ready again',
    async () => (await request(api.url).get('/ready')).status === 200,
    10_000,
  );
  await waitFor(
    'the worker to be ready again',
    async () => (await request(worker.url).get('/ready')).status === 200,
    10_000,
  );
  const accepted = await request(api.url)
    .post('/api/job')
    .send({ type: 'ping', payload: { note: 'after the outage' } })
    .expect(202);
  const done = await waitFor(
    'the worker to process a job after the outage',
    async () => {
      const { body } = await request(api.url).get(`/api/job/${accepted.body.id}`);
      return body.state === 'completed' ? body : undefined;
    },
    15_000,
  );
  expect(done.result).toEqual({ pong: true, note: 'after the outage' });
  expect(api.process.exitCode).toBeNull();
  expect(worker.process.exitCode).toBeNull();
});

it('starts without Redis, reports not ready, and becomes ready once Redis appears', async () => {
  await redis.server.pause();
  const late = await redis.startService('api', { waitUntil: 'health' });
  try {
    await request(late.url).get('/ready').expect(503);
    const started = Date.now();
    await request(late.url).post('/api/job').send({ type: 'ping', payload: {} }).expect(503);
    expect(Date.now() - started).toBeLessThan(1000);
    await redis.server.restart();
    await waitFor(
      'the late api to become ready',
      async () => (await request(late.url).get('/ready')).status === 200,
      10_000,
    );
    await request(late.url).post('/api/job').send({ type: 'ping', payload: {} }).expect(202);
  } finally {
    await late.stop();
  }
});
