import { createServer } from 'node:net';
import { ConfigError, loadApiConfig, loadWorkerConfig } from '../src/config';
import { freePort, startService } from './support';

describe('configuration from the environment', () => {
  it('applies the documented defaults (docs/architecture.md) when nothing is set', () => {
    expect(loadApiConfig({}, '1.2.3')).toMatchObject({
      app: 'api',
      version: '1.2.3',
      PORT: 3000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: '{opsforge}',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 20_000,
      BODY_LIMIT_BYTES: 65_536,
      CHAOS_ERROR_RATIO: 0,
      CHAOS_LATENCY_MS: 0,
    });
    expect(loadWorkerConfig({}, '1.2.3')).toMatchObject({
      app: 'worker',
      PORT: 3001,
      WORKER_CONCURRENCY: 5,
      WORKER_LOCK_DURATION_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 30_000,
      CHAOS_JOB_FAILURE_RATIO: 0,
    });
  });

  it('takes APP_VERSION over the package version, and treats empty strings as unset', () => {
    expect(loadApiConfig({ APP_VERSION: '9f1c2ab', PORT: '' }, '1.2.3')).toMatchObject({
      version: '9f1c2ab',
      PORT: 3000,
    });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://redis:6379'],
    ['REDIS_URL', 'not a url'],
    ['REDIS_URL', 'redis://redis:6379/zero'],
    ['QUEUE_PREFIX', 'has space'],
    ['LOG_LEVEL', 'loud'],
    ['SHUTDOWN_TIMEOUT_MS', '-1'],
    ['BODY_LIMIT_BYTES', '10'],
    ['CHAOS_ERROR_RATIO', '1.5'],
    ['CHAOS_LATENCY_MS', 'slow'],
  ])('api: rejects %s=%j naming the variable', (variable, value) => {
    const load = () => loadApiConfig({ [variable]: value }, '1.0.0');
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(new RegExp(`^invalid configuration: ${variable}: `));
  });

  it.each([
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', '2.5'],
    ['CHAOS_JOB_FAILURE_RATIO', '-0.1'],
    ['WORKER_LOCK_DURATION_MS', '500'],
    ['WORKER_LOCK_DURATION_MS', 'long'],
    ['WORKER_STALLED_INTERVAL_MS', '0'],
    ['WORKER_STALLED_INTERVAL_MS', '1500.5'],
  ])('worker: rejects %s=%j naming the variable', (variable, value) => {
    expect(() => loadWorkerConfig({ [variable]: value }, '1.0.0')).toThrow(
      new RegExp(`^invalid configuration: ${variable}: `),
    );
  });

  it('names every bad variable at once and never echoes a Redis credential', () => {
    try {
      loadApiConfig({ PORT: 'x', REDIS_URL: 'http://user:s3cret@redis', LOG_LEVEL: 'nope' }, '1.0.0');
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables.sort()).toEqual(['LOG_LEVEL', 'PORT', 'REDIS_URL']);
      expect((error as Error).message).not.toContain('s3cret');
    }
  });
});

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
