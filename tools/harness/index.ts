/**
 * @opsforge/harness: what every test and tool starts for real, and cleans up after. Import it by name:
 *
 *   import { freePort, startRedisServer, startService, testQueuePrefix, deleteQueueKeys } from '@opsforge/harness';
 *
 * - `freePort()`: a TCP port free on 127.0.0.1 right now (never a fixed port, so suites run in parallel).
 * - `startRedisServer({ appendOnly, appendFsync })`: a private `redis-server` on a spare port, for tests that
 *   stop, kill or restart Redis (`appendFsync: 'everysec'` is production's setting, `'always'` the default
 *   here); `stop()`, `kill()` (SIGKILL), `restart()` (same port, same data dir).
 * - `startService('api' | 'worker', { env, waitUntil })`: spawn the built `services/<name>/dist/main.js` as a real
 *   process (the build is brought up to date first), wait for `/ready` = 200 (or only `/health`, or nothing),
 *   collect its JSON log lines, and `stop(signal)` it, resolving with the exit code. `PRELOADS` are files to
 *   `--require` into it (a heap probe, an uncaught error).
 * - `testQueuePrefix()`: a unique, hash-tagged QUEUE_PREFIX per test file; `deleteQueueKeys(url, prefix)` removes
 *   every key under it afterwards, so the shared Redis at 127.0.0.1:6379 is left as found. `testQueue(label)`
 *   is both on the shared Redis: `{ redisUrl, prefix, env, deleteKeys() }`.
 * - `runOpenLoopLoad()`: fixed-rate (open-loop) HTTP load, latency measured from when each request was due;
 *   `jobSubmission(type, payload, headers)` is one `POST /api/job` of it. Both it and the canary rehearsal's
 *   weighted split run on `OpenLoopLoad`, the one fixed-rate generator (until a duration or `stop()`).
 * - `JobEffectsProbe`, `openQueue`: count the worker's job effects as Redis writes them; a BullMQ queue handle.
 * - `startSentinelGroup()`: a Redis primary, replicas and Sentinels on spare ports, for failover experiments.
 * - `startAlertmanager({ config })`: a real Alertmanager on a spare loopback port, no gossip, its configuration
 *   (and the files it reads) in a throw-away work directory; `url`, `output()`, `stop()`.
 * - `PrometheusServer.start({ scrapeIntervalMs, targets, ruleFiles })`: a real Prometheus on a spare loopback
 *   port with a throw-away TSDB; targets (with the labels a ServiceMonitor would give them) can be added and
 *   removed while it runs; `waitForTargetsUp`, `query`, `stop`.
 * - `startBlackboxExporter({ configFile })`: a real blackbox exporter on a spare loopback port with the given
 *   configuration; `url` (probe with `/probe?module=…&target=…`), `output()`, `stop()`.
 * - The three run on `startLocalServer({ binary, args, readyPath })`: a binary on a spare loopback port, ready
 *   when its path answers 200, its output's tail kept, stopped by jest-cleanup.ts if a test file leaves it.
 * - `runLoadWithScript(load, script)`: the load and, beside it, what happens to the system at set moments of it
 *   (`clock.at(ms)`), with `onLoadClock(stamp)` to place the script's moments among the load's records;
 *   `runLoadWithFault` for one fault `faultAtMs` into the load; `submitJobsThroughFault(api, plan, fault)` for job
 *   submissions that must each be answered 202 or 503 while Redis fails, with the acknowledged jobs.
 * - Fixtures for a test file or describe block (they register its beforeAll/afterAll): `useTestQueue(label)`, a
 *   test queue on the shared Redis with the services started on it, a queue handle and a client, all stopped and
 *   the keys deleted in afterAll; `useOwnRedis(options)`, the same on a private redis-server started in beforeAll.
 * - `waitForJobCount(queue, state, count)`; `SHORT_STALL_TIMERS`, the worker's lock and stalled-job check
 *   shortened for experiments that orphan jobs.
 */
import { join } from 'node:path';

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
export { testQueue, type TestQueue, testQueuePrefix, deleteQueueKeys, sharedRedisUrl } from './queue-prefix';
export { waitFor } from './wait';
export {
  jobSubmission,
  OpenLoopLoad,
  percentile,
  runOpenLoopLoad,
  type LoadAnswer,
  type LoadOptions,
  type LoadRequest,
  type LoadResult,
  type LoadTarget,
  type OpenLoopOptions,
  type RequestFailure,
  type RequestRecord,
  type SentRequest,
} from './open-loop-load';
export { JobEffectsProbe, openQueue } from './job-effects-probe';
export { startSentinelGroup, type GroupNode, type SentinelGroup } from './sentinel-group';
export { startLocalServer, type LocalServer, type LocalServerOptions } from './local-server';
export { startAlertmanager, type AlertmanagerOptions, type AlertmanagerServer } from './alertmanager-server';
export {
  BLACKBOX_EXPORTER_BINARY,
  startBlackboxExporter,
  type BlackboxExporter,
  type BlackboxExporterOptions,
} from './blackbox-exporter';
export {
  PrometheusServer,
  type PrometheusOptions,
  type QueryAnswer,
  type ScrapeTarget,
} from './prometheus-server';

export {
  type LoadClock,
  type ScriptedLoad,
  type FaultUnderLoad,
  runLoadWithScript,
  runLoadWithFault,
} from './load-script';
export { acknowledgedJobs, type AcknowledgedJob, submitJobsThroughFault } from './job-submissions';
export { type OwnRedis, useOwnRedis } from './own-redis';
export { type TestQueueFixture, useTestQueue } from './test-queue-fixture';
export { waitForJobCount } from './job-counts';
export { SHORT_STALL_TIMERS } from './stall-timers';

/** Files a test preloads into a built service with `NODE_OPTIONS="--require <file>"`; each file's header says why. */
export const PRELOADS = {
  /** With --expose-gc: on SIGWINCH, a full GC and the live heap as one JSON log line. */
  heapProbe: join(__dirname, 'heap-probe-preload.js'),
  /** Raises an error no handler can catch, to see the process exit. */
  uncaughtError: join(__dirname, 'uncaught-error-preload.js'),
};
