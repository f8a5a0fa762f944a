const lockDurationMs = 2_000;
const stalledIntervalMs = 1_000;

/**
 * Worker timers for experiments that orphan jobs (the worker or Redis dies with jobs active): a 2 s lock and a
 * stalled-job check every second. An orphaned job stays `active` until its lock expires and a stalled check has
 * seen it unlocked twice; with BullMQ's 30 s defaults that took up to a minute and a half, and an experiment's
 * recovery was a race against its own timeout instead of a known bound (lock + two checks).
 */
export const SHORT_STALL_TIMERS = {
  lockDurationMs,
  stalledIntervalMs,
  /** The same for the worker's environment. */
  env: {
    WORKER_LOCK_DURATION_MS: String(lockDurationMs),
    WORKER_STALLED_INTERVAL_MS: String(stalledIntervalMs),
  },
} as const;
