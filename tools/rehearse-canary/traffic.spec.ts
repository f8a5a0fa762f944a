// The rehearsal's user traffic on the harness's fixed-rate load, against two local HTTP servers standing for
// the stable (answers 200) and the canary (answers 500). Counts only: how fast it ran is not checked here.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@opsforge/harness';
import { SplitTraffic, type TrafficOptions } from './traffic';

async function serverAnswering(status: number): Promise<{ url: string; bodies: string[]; close(): void }> {
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      bodies.push(`${request.method} ${request.url} ${request.headers['content-type'] ?? '-'} ${body}`);
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => server.close(),
  };
}

describe('SplitTraffic (the rehearsal user traffic)', () => {
  let stable: Awaited<ReturnType<typeof serverAnswering>>;
  let canary: Awaited<ReturnType<typeof serverAnswering>>;
  beforeEach(async () => {
    [stable, canary] = await Promise.all([serverAnswering(200), serverAnswering(500)]);
  });
  afterEach(() => {
    stable.close();
    canary.close();
  });

  const sentSoFar = (traffic: SplitTraffic) => traffic.stats.stable.sent + traffic.stats.canary.sent;
  /** 500 requests/s of `GET /api/status` between the two servers, unless `options` say otherwise. */
  const trafficAt = (canaryWeight: number, options: Partial<TrafficOptions> = {}) =>
    new SplitTraffic({
      stableUrl: stable.url,
      canaryUrl: canary.url,
      ratePerSecond: 500,
      canaryWeight,
      request: () => ({ method: 'GET', path: '/api/status' }),
      ...options,
    });

  it('sends exactly every twentieth request to the canary at 5%, and counts its 5xx as failed', async () => {
    const traffic = trafficAt(5, {
      request: (sequence) => ({ method: 'POST', path: '/api/job', body: `{"n":${sequence}}` }),
    });
    await waitFor('200 requests sent', () => sentSoFar(traffic) >= 200, 30_000);
    const totals = await traffic.stop();

    const sent = totals.stable.sent + totals.canary.sent;
    expect(totals.canary.sent).toBe(Math.floor(sent / 20));
    expect(totals).toMatchObject({
      canary: { failed: totals.canary.sent },
      stable: { failed: 0 },
      dropped: 0,
    });
    expect(canary.bodies.length + stable.bodies.length).toBe(sent);
    // Every twentieth: requests 19, 39, ... (0-based), each a JSON body.
    expect(canary.bodies[0]).toBe('POST /api/job application/json {"n":19}');
  });

  it('moves the split when the Rollout sets a weight, and sends nothing to the canary at 0', async () => {
    const traffic = trafficAt(0);
    await waitFor('50 requests sent', () => sentSoFar(traffic) >= 50, 30_000);
    expect(traffic.stats.canary.sent).toBe(0);
    traffic.setCanaryWeight(100);
    const stableBefore = traffic.stats.stable.sent;
    await waitFor('50 canary requests', () => traffic.stats.canary.sent >= 50, 30_000);
    const totals = await traffic.stop();
    expect(totals.stable.sent).toBe(stableBefore);
    expect(canary.bodies[0]).toBe('GET /api/status - ');
  });

  it('counts the stable and the canary apart when they share a URL (the worker: one producer API)', async () => {
    const traffic = trafficAt(0, { canaryUrl: stable.url });
    await waitFor('50 requests sent', () => sentSoFar(traffic) >= 50, 30_000);
    const totals = await traffic.stop();
    expect(totals.canary).toEqual({ sent: 0, failed: 0 });
    expect(totals.stable.sent).toBe(stable.bodies.length);
  });
});
