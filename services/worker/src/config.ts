import { z } from 'zod';
import { loadServiceConfig, port, ratio } from '@opsforge/common/config';

/** The worker's own variables; the shared ones (Redis, logging, version, shutdown bound) come from common. */
const workerVariables = {
  PORT: port.default(3001),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(5),
  // How soon a job held by a dead worker runs again: its lock expires after WORKER_LOCK_DURATION_MS (renewed
  // every half of it while the job runs) and the stalled-job check, every WORKER_STALLED_INTERVAL_MS, moves it
  // back to waiting on the second check that finds it unlocked. BullMQ's defaults; shorter recovers sooner but
  // lets an event loop blocked for half the lock duration lose its lock and run the job twice.
  WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  CHAOS_JOB_FAILURE_RATIO: ratio.default(0),
};

export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv, packageVersion: string) {
  return loadServiceConfig('worker', workerVariables, env, packageVersion);
}
