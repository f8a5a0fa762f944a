import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { type RunningService, useTestQueue, waitFor } from '@opsforge/harness';
import { inFlightMarkerKey, requestFingerprint } from '../src/idempotency';

// Idempotency-Key as the IETF httpapi draft and Stripe have it, against the built API and the real Redis (no
// worker runs, so jobs stay waiting): replay of the same request, 422 for another request under a used key, 409
// while the first request with the key is still storing its job, and never a second job.
const jobs = useTestQueue('api-idempotency');
let api: RunningService;

const ping = (note: string) => ({ type: 'ping', payload: { note } });

function post(key: string, body: unknown) {
  return request(api.url)
    .post('/api/job')
    .set('Idempotency-Key', key)
    .send(body as object);
}

async function jobsWithId(key: string): Promise<number> {
  const waiting = await jobs.queue.getWaiting();
  return waiting.filter((job) => job.id === key).length;
}

beforeAll(async () => {
  api = await jobs.startService('api');
});

describe('a key reused after its request finished', () => {
  it('replays the first answer for the same request, however its JSON is written', async () => {
    const key = `replay-${randomUUID()}`;
    const first = await post(key, { type: 'ping', payload: { note: 'a', holdMs: 5 } }).expect(202);
    // Same request, other key order and spacing: the fingerprint is of the validated request, not its bytes.
    const again = await request(api.url)
      .post('/api/job')
      .set('Idempotency-Key', key)
      .set('content-type', 'application/json')
      .send('{ "payload": { "holdMs": 5, "note": "a" }, "type": "ping" }')
      .expect(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.body).toEqual(first.body);
    expect(again.body).toEqual({ id: key, status: 'created', links: { self: `/api/job/${key}` } });
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await jobsWithId(key)).toBe(1);
  });

  it.each([
    ['another payload', ping('b')],
    [
      'another job type',
      {
        type: 'invoice.total',
        payload: {
          invoiceId: 'I-1',
          currency: 'EUR',
          taxRatePercent: 0,
          lines: [{ sku: 's', quantity: 1, unitPriceCents: 1 }],
        },
      },
    ],
  ])('answers 422 naming the key for %s, and keeps the first job', async (_, otherRequest) => {
    const key = `reuse-${randomUUID()}`;
    const first = await post(key, ping('a')).expect(202);
    const reused = await post(key, otherRequest);

    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toMatch(/^application\/json/);
    expect(reused.body).toMatchObject({
      statusCode: 422,
      error: 'Unprocessable Content',
      idempotencyKey: key,
      message: expect.stringContaining(`Idempotency-Key "${key}" was already used for a different request`),
      issues: [{ field: 'Idempotency-Key', message: expect.any(String) }],
    });
    expect(reused.headers['x-request-id']).toEqual(expect.any(String));
    const stored = await jobs.queue.getJob(key);
    expect(stored?.name).toBe('ping');
    expect(stored?.data.payload).toEqual({ note: 'a' });
    expect(stored?.data.requestId).toBe(first.headers['x-request-id']);
    expect(await jobsWithId(key)).toBe(1);
  });

  it('recognises a job stored without a fingerprint (by an earlier API version) by its type and payload', async () => {
    const key = `legacy-${randomUUID()}`;
    await jobs.queue.add(
      'ping',
      { payload: { note: 'old' }, requestId: 'from-an-older-api' },
      { jobId: key },
    );
    const replay = await post(key, ping('old')).expect(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    await post(key, ping('new')).expect(422);
  });
});

describe('a key whose first request is still in flight', () => {
  // Another API replica has claimed the key and is storing its job: what any request with the key sees in that
  // moment, made to last here by writing the claim the way that replica would.
  async function claimElsewhere(key: string, body: { type: string; payload: unknown }, ttlMs: number) {
    await jobs.client.set(
      inFlightMarkerKey(jobs.prefix, key),
      requestFingerprint(body.type, body.payload),
      'PX',
      ttlMs,
    );
  }

  it('answers 409 for the same request and 422 for another, without creating a job', async () => {
    const key = `in-flight-${randomUUID()}`;
    await claimElsewhere(key, ping('a'), 60_000);

    const same = await post(key, ping('a'));
    expect(same.status).toBe(409);
    expect(same.body).toMatchObject({
      statusCode: 409,
      error: 'Conflict',
      idempotencyKey: key,
      message: expect.stringContaining('still being processed; retry'),
    });
    const other = await post(key, ping('b'));
    expect(other.status).toBe(422);
    expect(await jobs.queue.getJob(key)).toBeUndefined();
    await jobs.client.del(inFlightMarkerKey(jobs.prefix, key));
  });

  it('lets a retry through once a claim is abandoned (its holder died before storing the job)', async () => {
    const key = `abandoned-${randomUUID()}`;
    await claimElsewhere(key, ping('a'), 300);
    await post(key, ping('a')).expect(409);
    await waitFor(
      'the abandoned claim to expire',
      async () => (await jobs.client.exists(inFlightMarkerKey(jobs.prefix, key))) === 0,
      5000,
    );
    const retried = await post(key, ping('a')).expect(202);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await jobsWithId(key)).toBe(1);
  });
});

describe('concurrent requests with one key', () => {
  const CONCURRENT = 24;

  it('equal bodies: one creates the job; every other is its replay or a 409, never a second job', async () => {
    const key = `burst-equal-${randomUUID()}`;
    const answers = await Promise.all(Array.from({ length: CONCURRENT }, () => post(key, ping('same'))));

    const created = answers.filter((a) => a.status === 202 && a.headers['idempotent-replayed'] === undefined);
    expect(created).toHaveLength(1);
    for (const answer of answers) {
      if (answer === created[0]) continue;
      if (answer.status === 202) {
        expect(answer.body).toEqual(created[0].body);
        expect(answer.headers['idempotent-replayed']).toBe('true');
      } else {
        expect(answer.status).toBe(409);
        expect(answer.body).toMatchObject({ statusCode: 409, idempotencyKey: key });
      }
    }
    expect(await jobsWithId(key)).toBe(1);
    expect((await jobs.queue.getJob(key))?.data.requestId).toBe(created[0].headers['x-request-id']);
    // Once the first answer is out, the same request is a plain replay.
    const after = await post(key, ping('same')).expect(202);
    expect(after.headers['idempotent-replayed']).toBe('true');
  });

  it('different bodies: one creates the job with its own body; every other gets 422 or 409, never a job', async () => {
    const key = `burst-different-${randomUUID()}`;
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, index) => post(key, ping(`body-${index}`))),
    );

    const created = answers.filter((a) => a.status === 202);
    expect(created).toHaveLength(1);
    expect(created[0].headers['idempotent-replayed']).toBeUndefined();
    for (const answer of answers)
      if (answer !== created[0]) {
        expect([409, 422]).toContain(answer.status);
        expect(answer.body).toMatchObject({ idempotencyKey: key });
      }
    const winner = answers.indexOf(created[0]);
    expect(await jobsWithId(key)).toBe(1);
    expect((await jobs.queue.getJob(key))?.data.payload).toEqual({ note: `body-${winner}` });
  });
});

describe('retention', () => {
  it('binds the key for as long as its job exists: once the job is removed, the key starts a new job', async () => {
    const key = `retention-${randomUUID()}`;
    await post(key, ping('a')).expect(202);
    await (await jobs.queue.getJob(key))?.remove();
    const fresh = await post(key, ping('b')).expect(202);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    expect((await jobs.queue.getJob(key))?.data.payload).toEqual({ note: 'b' });
  });
});

describe('metrics', () => {
  it('counts replays, reused keys and in-flight conflicts as their own outcomes', async () => {
    const { text } = await request(api.url).get('/metrics').expect(200);
    expect(text).toMatch(/^jobs_enqueued_total\{job_type="ping",outcome="duplicate"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jobs_enqueued_total\{job_type="ping",outcome="key_reused"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jobs_enqueued_total\{job_type="ping",outcome="in_flight"\} [1-9]\d*$/m);
  });
});
