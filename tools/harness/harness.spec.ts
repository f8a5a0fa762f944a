import { Redis } from 'ioredis';
import { freePort, startRedisServer, startService, testQueue } from './index';

describe('test support', () => {
  it('starts a private redis-server, kills it and brings it back with its AOF data', async () => {
    const server = await startRedisServer({ appendOnly: true });
    const before = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const after = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await before.set('survives', 'yes');
      before.disconnect();
      await server.kill();
      await expect(after.connect()).rejects.toThrow();
      await server.restart();
      expect(await after.get('survives')).toBe('yes');
    } finally {
      before.disconnect();
      after.disconnect();
      await server.stop();
    }
  });

  it('spawns the built api, waits for /ready and stops it with exit code 0', async () => {
    const queue = testQueue('support');
    const api = await startService('api', { env: queue.env });
    try {
      const response = await fetch(`${api.url}/ready`);
      expect(response.status).toBe(200);
      await api.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('api listening'));
      expect(await api.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await api.stop('SIGKILL');
      await queue.deleteKeys();
    }
  });

  it('hands out distinct free ports', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});
