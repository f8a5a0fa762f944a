import { ConfigError, loadServiceConfig } from '../src/config';
import { describeRedis, redisClusterOptions, redisConnectionOptions } from '../src/redis';

// The Redis variables are shared: each service's schema is these plus its own, so a service's configuration with
// an empty own schema tests them (as that service sees them; which version it reports does not matter here).
const sharedConfig = <App extends 'api' | 'worker'>(app: App, env: NodeJS.ProcessEnv) =>
  loadServiceConfig(app, {}, env, '1.0.0');

const sentinelEnv = {
  REDIS_MODE: 'sentinel',
  REDIS_SENTINELS: 'redis-sentinel-0.redis-sentinel:26379, 10.0.0.7:26380,[fd00::7]:26379',
  REDIS_SENTINEL_MASTER_NAME: 'opsforge',
  REDIS_PASSWORD: 'data-secret',
  REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
};

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('Redis topology configuration', () => {
  it('defaults to one Redis at REDIS_URL', () => {
    expect(sharedConfig('api', {})).toMatchObject({
      REDIS_MODE: 'standalone',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
  });

  it('reads the sentinels, the master name and both passwords in sentinel mode', () => {
    const config = sharedConfig('worker', sentinelEnv);
    expect(config).toMatchObject({
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: [
        { host: 'redis-sentinel-0.redis-sentinel', port: 26379 },
        { host: '10.0.0.7', port: 26380 },
        { host: 'fd00::7', port: 26379 },
      ],
      REDIS_SENTINEL_MASTER_NAME: 'opsforge',
    });
    expect(describeRedis(config)).toBe(
      'sentinel://redis-sentinel-0.redis-sentinel:26379,10.0.0.7:26380,fd00::7:26379/opsforge',
    );
  });

  it('names each variable a mode requires when it is missing', () => {
    expect(configError(() => sharedConfig('api', { REDIS_MODE: 'sentinel' })).variables.sort()).toEqual([
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_MASTER_NAME',
    ]);
    expect(configError(() => sharedConfig('worker', { REDIS_MODE: 'cluster' })).variables).toEqual([
      'REDIS_CLUSTER_NODES',
    ]);
  });

  it.each([
    ['REDIS_MODE', { REDIS_MODE: 'replicated' }],
    ['REDIS_SENTINELS', { ...sentinelEnv, REDIS_SENTINELS: 'redis-sentinel' }],
    ['REDIS_SENTINELS', { ...sentinelEnv, REDIS_SENTINELS: 'a:26379,,b:26379' }],
    ['REDIS_SENTINELS', { ...sentinelEnv, REDIS_SENTINELS: 'a:99999' }],
    ['REDIS_SENTINEL_MASTER_NAME', { ...sentinelEnv, REDIS_SENTINEL_MASTER_NAME: 'my master' }],
    ['REDIS_CLUSTER_NODES', { REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis://a:6379' }],
    ['REDIS_TLS', { ...sentinelEnv, REDIS_TLS: 'yes' }],
  ])('rejects a bad %s naming it', (variable, env) => {
    expect(configError(() => sharedConfig('api', env)).variables).toEqual([variable]);
  });

  it.each([
    // The adopter forgot REDIS_MODE: the services would otherwise run against REDIS_URL's default.
    ['REDIS_SENTINELS', 'sentinel', 'standalone', { REDIS_SENTINELS: 'redis-sentinel:26379' }],
    ['REDIS_CLUSTER_NODES', 'cluster', 'standalone', { REDIS_CLUSTER_NODES: 'redis-cluster:6379' }],
    ['REDIS_URL', 'standalone', 'sentinel', { ...sentinelEnv, REDIS_URL: 'redis://redis:6379' }],
    ['REDIS_TLS', 'sentinel', 'standalone', { REDIS_TLS: 'true' }],
  ])('rejects %s, which belongs to REDIS_MODE=%s, in %s mode', (variable, owner, mode, env) => {
    const error = configError(() => sharedConfig('api', env));
    expect(error.variables).toEqual([variable]);
    expect(error.message).toContain(`${variable}: belongs to REDIS_MODE=${owner}, but REDIS_MODE is ${mode}`);
  });

  it('lets an overlay unset REDIS_URL with an empty value when it switches to sentinel mode', () => {
    expect(sharedConfig('api', { ...sentinelEnv, REDIS_URL: '' }).REDIS_MODE).toBe('sentinel');
  });

  it('never echoes a Redis password back', () => {
    const error = configError(() =>
      sharedConfig('api', { ...sentinelEnv, REDIS_URL: 'redis://:pw-in-url@x' }),
    );
    expect(error.message).not.toContain('pw-in-url');
    expect(error.message).not.toContain('data-secret');
  });
});

describe('Redis connection options by mode and role', () => {
  const api = sharedConfig('api', sentinelEnv);
  const worker = sharedConfig('worker', sentinelEnv);

  it('asks the sentinels for the primary with both passwords and follows a failover', () => {
    expect(redisConnectionOptions(api, 'producer')).toMatchObject({
      sentinels: [
        { host: 'redis-sentinel-0.redis-sentinel', port: 26379 },
        { host: '10.0.0.7', port: 26380 },
        { host: 'fd00::7', port: 26379 },
      ],
      name: 'opsforge',
      role: 'master',
      password: 'data-secret',
      sentinelPassword: 'sentinel-secret',
      failoverDetector: true,
    });
  });

  it('keeps the API fail-fast and the worker patient in sentinel mode', () => {
    expect(redisConnectionOptions(api, 'producer')).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 800,
    });
    const consumer = redisConnectionOptions(worker, 'consumer');
    expect(consumer).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    expect(consumer.commandTimeout).toBeUndefined();
  });

  it('does the same for a Redis Cluster, with TLS when asked', () => {
    const cluster = { REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis-cluster:6379', REDIS_TLS: 'true' };
    const producer = redisClusterOptions(sharedConfig('api', cluster), 'producer');
    expect(producer).toMatchObject({
      enableOfflineQueue: false,
      redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 800, tls: {} },
    });
    expect(redisClusterOptions(sharedConfig('worker', cluster), 'consumer')).toMatchObject({
      enableOfflineQueue: true,
      redisOptions: { maxRetriesPerRequest: null },
    });
    expect(describeRedis(sharedConfig('api', cluster))).toBe('cluster://redis-cluster:6379');
  });
});
