import { createServer } from 'node:net';
import { freePort, startService } from '@opsforge/harness';

describe('the processes at start', () => {
  it.each([
    ['api', { PORT: 'eighty' }, 'PORT'],
    ['worker', { WORKER_CONCURRENCY: 'many' }, 'WORKER_CONCURRENCY'],
  ] as const)(
    '%s exits 78 with one fatal JSON line naming %j when configuration is bad',
    async (name, env, variable) => {
      const service = await startService(name, { env, waitUntil: 'none' });
      expect(await service.exited).toEqual({ code: 78, signal: null });
      const fatal = await service.waitForLog((line) => line.level === 'fatal');
      expect(fatal).toMatchObject({
        app: name,
        variables: [variable],
        msg: expect.stringContaining(`${variable}: `),
      });
    },
  );

  it('a real crash (the port is taken) exits non-zero with a fatal line saying why', async () => {
    const port = await freePort();
    const squatter = createServer().listen(port, '0.0.0.0');
    try {
      const api = await startService('api', {
        env: { PORT: String(port), REDIS_URL: 'redis://127.0.0.1:1' },
        waitUntil: 'none',
      });
      expect(await api.exited).toEqual({ code: 1, signal: null });
      expect(await api.waitForLog((line) => line.level === 'fatal')).toMatchObject({
        msg: expect.stringContaining('EADDRINUSE'),
      });
    } finally {
      squatter.close();
    }
  });
});
