import http from 'node:http';
import fc from 'fast-check';
import { type RunningService, useTestQueue } from '@opsforge/harness';
import { type MalformedFamily, type MalformedRequest, malformedJobRequests } from './malformed-job-requests';

/**
 * Bad input never costs a 5xx: thousands of generated malformed `POST /api/job` requests (broken JSON, wrong
 * types, deep nesting, huge strings, prototype keys, wrong content types, oversize bodies, bad idempotency keys)
 * against the real built API. Each must be answered 4xx with the contract's JSON error, and the service must
 * answer normally afterwards.
 */

const BODY_LIMIT_BYTES = 65_536;
const GENERATED_REQUESTS = 5_000;

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

function post(api: RunningService, agent: http.Agent, request: MalformedRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      ...request.headers,
      'content-length': request.body.length,
    };
    if (request.contentType !== undefined) headers['content-type'] = request.contentType;
    let answer: Answer | undefined;
    const outgoing = http.request(
      {
        agent,
        host: '127.0.0.1',
        port: api.port,
        method: 'POST',
        path: '/api/job',
        headers,
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          answer = {
            status: response.statusCode ?? 0,
            contentType: response.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          };
          resolve(answer);
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 10 s')));
    // A server may answer 413 before reading an oversize body and close the socket while the body is still
    // being written: the client then sees EPIPE/ECONNRESET *after* a complete answer, which is not a failure.
    outgoing.on('error', (error) => (answer ? resolve(answer) : reject(error)));
    outgoing.end(request.body);
  });
}

describe('api: generated malformed requests to POST /api/job', () => {
  const jobs = useTestQueue('malformed');
  let api: RunningService;

  beforeAll(async () => {
    api = await jobs.startService('api', {
      env: { BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES), LOG_LEVEL: 'warn' },
    });
  });

  it(`answers ${GENERATED_REQUESTS} of them 4xx with a JSON error, never 5xx, and still serves normally afterwards`, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statusesByFamily = new Map<MalformedFamily, Map<number, number>>();
    let fiveHundreds = 0;
    const startedAt = performance.now();

    await fc.assert(
      fc.asyncProperty(malformedJobRequests(BODY_LIMIT_BYTES), async (request) => {
        const answer = await post(api, agent, request);
        const counts = statusesByFamily.get(request.family) ?? new Map<number, number>();
        counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
        statusesByFamily.set(request.family, counts);
        if (answer.status >= 500) fiveHundreds += 1;

        const context = `${request.family} request ${request.summary} answered ${answer.status} ${answer.body.slice(0, 300)}`;
        if (!request.allowedStatuses.includes(answer.status))
          throw new Error(`expected ${request.allowedStatuses.join(' or ')}: ${context}`);
        if (!/^application\/json\b/.test(answer.contentType ?? ''))
          throw new Error(`error answer is not JSON (${answer.contentType}): ${context}`);
        const error = JSON.parse(answer.body) as { statusCode?: unknown; message?: unknown };
        if (
          error.statusCode !== answer.status ||
          typeof error.message !== 'string' ||
          error.message.length === 0
        ) {
          throw new Error(`error body lacks statusCode/message: ${context}`);
        }
      }),
      { numRuns: GENERATED_REQUESTS, seed: Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31) },
    );
    agent.destroy();

    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    const tally = Object.fromEntries(
      [...statusesByFamily].map(([family, counts]) => [family, Object.fromEntries(counts)]),
    );
    console.log(
      `malformed requests: ${GENERATED_REQUESTS} in ${elapsedSeconds.toFixed(1)} s, 5xx: ${fiveHundreds}, statuses by family: ${JSON.stringify(tally)}`,
    );
    expect(fiveHundreds).toBe(0);
    // Every family was exercised, not just the cheap ones.
    expect([...statusesByFamily.keys()].sort()).toEqual([
      'bad-idempotency-key',
      'bad-json',
      'deep-nesting',
      'huge-strings',
      'oversize-body',
      'prototype-keys',
      'wrong-content-type',
      'wrong-types',
    ]);

    // Still alive, still ready, still accepting a good job, and Object.prototype was not polluted in a way that
    // leaks into answers.
    expect(api.process.exitCode).toBeNull();
    expect((await fetch(`${api.url}/ready`)).status).toBe(200);
    const accepted = await fetch(`${api.url}/api/job`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'ping', payload: { note: 'after the storm' } }),
    });
    expect(accepted.status).toBe(202);
    const receipt = (await accepted.json()) as Record<string, unknown>;
    expect(receipt).toMatchObject({ status: 'created', id: expect.any(String) });
    expect(receipt).not.toHaveProperty('polluted');
  });
});
