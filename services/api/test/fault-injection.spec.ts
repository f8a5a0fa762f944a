import request from 'supertest';
import { type RunningService, useTestQueue } from '@opsforge/harness';

// The chaos knobs a canary rehearsal uses to make a deliberately bad build (off by default; forbidden in prod).
const jobs = useTestQueue('chaos-knobs');
let api: RunningService;

beforeAll(async () => {
  api = await jobs.startService('api', { env: { CHAOS_ERROR_RATIO: '1', CHAOS_LATENCY_MS: '150' } });
});

it('answers /api/* with 500 after the added latency, and counts it like any other 500', async () => {
  const started = Date.now();
  const response = await request(api.url).get('/api/status').expect(500);
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  expect(response.body).toEqual({
    statusCode: 500,
    error: 'Internal Server Error',
    message: 'injected failure (CHAOS_ERROR_RATIO)',
  });
  const { text } = await request(api.url).get('/metrics').expect(200);
  expect(text).toMatch(/^http_requests_total\{method="GET",route="\/api\/status",status_code="500"\} 1$/m);
});

it('leaves probes and /metrics alone, so the bad build is judged by its error rate, not restarted', async () => {
  const started = Date.now();
  await request(api.url).get('/health').expect(200);
  await request(api.url).get('/ready').expect(200);
  expect(Date.now() - started).toBeLessThan(150);
});

it('is off by default', async () => {
  const plain = await jobs.startService('api');
  try {
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => request(plain.url).get('/api/status')),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
  } finally {
    await plain.stop();
  }
});
