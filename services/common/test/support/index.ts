/**
 * Test support for anything that needs the real services or a real Redis. Import from here:
 *
 *   import { freePort, startRedisServer, startService, testQueuePrefix, deleteQueueKeys, sharedRedisUrl } from '<rel>/services/common/test/support';
 *
 * - `freePort()`: a TCP port free on 127.0.0.1 right now (never a fixed port, so suites run in parallel).
 * - `startRedisServer({ appendOnly, appendFsync })`: a private `redis-server` on a spare port, for tests that
 *   stop, kill or restart Redis (`appendFsync: 'everysec'` is production's setting, `'always'` the default
 *   here); `stop()`, `kill()` (SIGKILL), `restart()` (same port, same data dir).
 * - `startService('api' | 'worker', { env, waitUntil })`: spawn the built `services/<name>/dist/main.js` as a real
 *   process (the build is brought up to date first), wait for `/ready` = 200 (or only `/health`, or nothing),
 *   collect its JSON log lines, and `stop(signal)` it, resolving with the exit code.
 * - `testQueuePrefix()`: a unique, hash-tagged QUEUE_PREFIX per test file; `deleteQueueKeys(url, prefix)` removes
 *   every key under it afterwards, so the shared Redis at 127.0.0.1:6379 is left as found.
 */
export { freePort } from './ports';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';
export {
  startService,
  ensureServicesBuilt,
  type RunningService,
  type ServiceName,
  type StartServiceOptions,
  type LogLine,
  type ExitResult,
} from './services';
export { testQueuePrefix, deleteQueueKeys, sharedRedisUrl } from './queue-prefix';
export { waitFor } from './wait';
