import { ConfigError } from '@opsforge/common/config';
import { loadApiConfig } from '../src/config';

describe("configuration from the environment: the shared variables and the API's own", () => {
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
      REDIS_REPLICA_ACKS: 0,
      REDIS_REPLICA_ACK_TIMEOUT_MS: 500,
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
    ['REDIS_REPLICA_ACKS', '-1'],
    // Above the API's Redis command timeout the wait could not end in a 503 before the command times out.
    ['REDIS_REPLICA_ACK_TIMEOUT_MS', '800'],
  ])('api: rejects %s=%j naming the variable', (variable, value) => {
    const load = () => loadApiConfig({ [variable]: value }, '1.0.0');
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(new RegExp(`^invalid configuration: ${variable}: `));
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
