import request from 'supertest';
import { type RunningService, useTestQueue } from '@opsforge/harness';

// The API's HTTP contract as a client sees it, against the built service and the real Redis (no worker runs
// here, so accepted jobs stay waiting).
const jobs = useTestQueue('api-contract');
let api: RunningService;

const invoice = {
  type: 'invoice.total',
  payload: {
    invoiceId: 'INV-7',
    currency: 'EUR',
    taxRatePercent: 19,
    lines: [{ sku: 'cable', quantity: 3, unitPriceCents: 1999 }],
  },
};

beforeAll(async () => {
  api = await jobs.startService('api', { env: { BODY_LIMIT_BYTES: '2048', APP_VERSION: 'abc1234' } });
});

describe('probes and status', () => {
  it('answers /health and /ready with 200 while Redis answers', async () => {
    await request(api.url).get('/health').expect(200, { status: 'ok' });
    const ready = await request(api.url).get('/ready').expect(200);
    expect(ready.body.details.redis.status).toBe('up');
  });

  it('reports service, build version, uptime and queue counts on /api/status', async () => {
    const { body } = await request(api.url).get('/api/status').expect(200);
    expect(body).toMatchObject({ service: 'api', version: 'abc1234', queue: { name: 'jobs' } });
    expect(body.uptimeSeconds).toBeGreaterThan(0);
    expect(Object.keys(body.queue.counts).sort()).toEqual([
      'active',
      'completed',
      'delayed',
      'failed',
      'prioritized',
      'waiting',
    ]);
  });

  it('exports 500 and 503 series for every route from start-up, so a canary error rate is right from its first errors', async () => {
    // Before any /api request. The probes have been called while the API started, and /ready may have answered
    // 503 before Redis connected: their series exist, with whatever they counted.
    const { text } = await request(api.url).get('/metrics').expect(200);
    const serverErrorSeries = new Map(
      text
        .split('\n')
        .map((line) => /^(http_requests_total\{.*status_code="50[03]"\}) (\S+)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1], Number(match[2])]),
    );
    const apiRoutes = ['GET /api/status', 'POST /api/job', 'GET /api/job/:id'];
    const probeRoutes = ['GET /health', 'GET /ready', 'GET /metrics'];
    for (const route of [...apiRoutes, ...probeRoutes]) {
      const [method, path] = route.split(' ');
      for (const statusCode of ['500', '503']) {
        const labels = `method="${method}",route="${path}",status_code="${statusCode}"`;
        expect(serverErrorSeries.get(`http_requests_total{${labels}}`)).toEqual(
          apiRoutes.includes(route) ? 0 : expect.any(Number),
        );
        expect(text).toMatch(new RegExp(`^http_request_duration_seconds_count\\{${labels}\\} \\d+$`, 'm'));
      }
    }
    // Bounded by the routes, not by traffic: exactly routes × 2, no HEAD twins.
    expect(serverErrorSeries.size).toBe((apiRoutes.length + probeRoutes.length) * 2);
  });

  it('exports the success series of the /api routes from start-up too, so a canary clears its traffic floor from its first requests', async () => {
    const { text } = await request(api.url).get('/metrics').expect(200);
    const successes = { 'GET /api/status': '200', 'POST /api/job': '202', 'GET /api/job/:id': '200' };
    for (const [route, statusCode] of Object.entries(successes)) {
      const [method, path] = route.split(' ');
      const labels = `method="${method}",route="${path}",status_code="${statusCode}"`;
      // No synthetic request was sent: the canary acceptance's series are there, at 0.
      expect(text).toMatch(new RegExp(`^http_requests_total\\{${labels},traffic="synthetic"\\} 0$`, 'm'));
      expect(text).toMatch(
        new RegExp(`^http_request_duration_seconds_count\\{${labels},traffic="synthetic"\\} 0$`, 'm'),
      );
      // The users' twins exist whatever this file sent before.
      expect(text).toMatch(new RegExp(`^http_requests_total\\{${labels}\\} \\d+$`, 'm'));
    }
  });

  it('serves Prometheus text on /metrics with process metrics and app_info', async () => {
    const response = await request(api.url).get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(response.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(response.text).toContain('app_info{version="abc1234"} 1');
  });
});

describe('POST /api/job and GET /api/job/:id', () => {
  it('accepts a valid job with 202, its id, status and a link that reads it back', async () => {
    const created = await request(api.url).post('/api/job').send(invoice).expect(202);
    expect(created.body).toEqual({
      id: expect.any(String),
      status: 'created',
      links: { self: `/api/job/${created.body.id}` },
    });
    expect(created.headers.location).toBe(created.body.links.self);

    const read = await request(api.url).get(created.body.links.self).expect(200);
    expect(read.body).toMatchObject({
      id: created.body.id,
      type: 'invoice.total',
      state: 'waiting',
      attemptsMade: 0,
      attempts: 5,
    });
    const stored = await jobs.queue.getJob(created.body.id);
    expect(stored?.data.payload).toEqual(invoice.payload);
    // The contract's retry policy travels with every job the API creates.
    expect(stored?.opts).toMatchObject({
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
    });
  });

  it('answers 404 with a JSON error for an unknown job id', async () => {
    const { body } = await request(api.url).get('/api/job/no-such-job').expect(404);
    expect(body).toMatchObject({ statusCode: 404, message: expect.stringContaining('no-such-job') });
  });

  it('turns one Idempotency-Key into exactly one job, however often it is sent', async () => {
    const key = `order-${Date.now()}`;
    const first = await request(api.url)
      .post('/api/job')
      .set('Idempotency-Key', key)
      .send(invoice)
      .expect(202);
    const second = await request(api.url)
      .post('/api/job')
      .set('Idempotency-Key', key)
      .send(invoice)
      .expect(202);
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () =>
        request(api.url).post('/api/job').set('Idempotency-Key', key).send(invoice),
      ),
    );

    expect(first.body).toMatchObject({ id: key, status: 'created' });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same request again is answered as the first time, flagged as a replay.
    for (const replay of [second, ...concurrent]) {
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual(first.body);
      expect(replay.headers.location).toBe(first.headers.location);
      expect(replay.headers['idempotent-replayed']).toBe('true');
    }
    const waiting = await jobs.queue.getWaiting();
    expect(waiting.filter((job) => job.id === key)).toHaveLength(1);
    // The stored job is the first request's, correlation id included.
    expect((await jobs.queue.getJob(key))?.data.requestId).toBe(first.headers['x-request-id']);
  });
});

describe('bad input is a 4xx naming the field, never a 500', () => {
  const cases: {
    name: string;
    body?: unknown;
    raw?: string;
    contentType?: string;
    headers?: Record<string, string>;
    status: number;
    field: string;
  }[] = [
    { name: 'malformed JSON', raw: '{"type": "ping", ', status: 400, field: 'body' },
    { name: 'a JSON array instead of an object', body: [1, 2], status: 400, field: 'body' },
    { name: 'missing type', body: { payload: {} }, status: 400, field: 'type' },
    { name: 'unknown job type', body: { type: 'rm-rf', payload: {} }, status: 400, field: 'type' },
    {
      name: 'wrong type of a nested field',
      body: { ...invoice, payload: { ...invoice.payload, taxRatePercent: '19' } },
      status: 400,
      field: 'payload.taxRatePercent',
    },
    {
      name: 'missing nested field',
      body: { ...invoice, payload: { ...invoice.payload, currency: undefined } },
      status: 400,
      field: 'payload.currency',
    },
    {
      name: 'out-of-range array element',
      body: {
        ...invoice,
        payload: { ...invoice.payload, lines: [{ sku: 'x', quantity: 0, unitPriceCents: 1 }] },
      },
      status: 400,
      field: 'payload.lines.0.quantity',
    },
    {
      name: 'unknown field',
      body: { ...invoice, payload: { ...invoice.payload, discount: 5 } },
      status: 400,
      field: 'payload.discount',
    },
    {
      name: 'an all-digit Idempotency-Key',
      body: invoice,
      headers: { 'Idempotency-Key': '12345' },
      status: 400,
      field: 'Idempotency-Key',
    },
    {
      name: 'a body over BODY_LIMIT_BYTES',
      raw: JSON.stringify({ type: 'ping', payload: { note: 'x'.repeat(4096) } }),
      status: 413,
      field: 'body',
    },
    {
      name: 'text/plain content',
      raw: 'ping',
      contentType: 'text/plain',
      status: 415,
      field: 'content-type',
    },
    {
      name: 'an unsupported content type',
      raw: '<job/>',
      contentType: 'application/xml',
      status: 415,
      field: 'content-type',
    },
  ];

  it.each(cases)(
    '$name → $status naming $field',
    async ({ body, raw, contentType, headers, status, field }) => {
      let call = request(api.url)
        .post('/api/job')
        .set('content-type', contentType ?? 'application/json');
      for (const [name, value] of Object.entries(headers ?? {})) call = call.set(name, value);
      const response = await call.send(raw ?? JSON.stringify(body));
      expect(response.status).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body.issues).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(response.body.message).toEqual(expect.any(String));
    },
  );
});

describe('correlation and metrics', () => {
  it('echoes a client x-request-id, mints one when absent, and logs one line per request carrying it', async () => {
    const echoed = await request(api.url)
      .get('/api/status')
      .set('x-request-id', 'client-chosen-42')
      .expect(200);
    expect(echoed.headers['x-request-id']).toBe('client-chosen-42');
    const minted = await request(api.url).get('/api/status').expect(200);
    expect(minted.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    const line = await api.waitForLog((entry) => entry.requestId === 'client-chosen-42');
    expect(line).toMatchObject({
      level: 'info',
      app: 'api',
      req: { method: 'GET', url: '/api/status' },
      res: { statusCode: 200 },
    });
    expect(api.logs.filter((entry) => entry.requestId === 'client-chosen-42')).toHaveLength(1);
  });

  it('never logs an Authorization header', async () => {
    await request(api.url)
      .get('/api/status')
      .set('x-request-id', 'with-secret')
      .set('authorization', 'Bearer hunter2')
      .expect(200);
    await api.waitForLog((entry) => entry.requestId === 'with-secret');
    expect(JSON.stringify(api.logs)).not.toContain('hunter2');
  });

  it('counts requests by route template, never by raw URL, and job outcomes by type', async () => {
    await request(api.url).get('/api/job/some-id-1').expect(404);
    await request(api.url).get('/api/job/some-id-2').expect(404);
    await request(api.url).get('/definitely/not/a/route').expect(404);
    await request(api.url).post('/api/job').send({ type: 'nope', payload: {} }).expect(400);
    const { text } = await request(api.url).get('/metrics').expect(200);

    expect(text).toMatch(
      /^http_requests_total\{method="GET",route="\/api\/job\/:id",status_code="404"\} ([2-9]|\d\d+)$/m,
    );
    expect(text).toMatch(/^http_requests_total\{method="GET",route="unmatched",status_code="404"\} \d+$/m);
    expect(text).not.toContain('some-id-1');
    expect(text).not.toContain('/definitely/not/a/route');
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="0\.3",method="POST",route="\/api\/job",status_code="202"\} \d+$/m,
    );
    expect(text).toMatch(/^jobs_enqueued_total\{job_type="invoice\.total",outcome="created"\} \d+$/m);
    expect(text).toMatch(
      /^jobs_enqueued_total\{job_type="invoice\.total",outcome="duplicate"\} ([6-9]|\d\d+)$/m,
    );
    expect(text).toMatch(/^jobs_enqueued_total\{job_type="invalid",outcome="rejected"\} \d+$/m);
  });
});
