import type { LoadRequest, LoadResult } from './open-loop-load';
import type { RunningService } from './services';
import { type FaultUnderLoad, runLoadWithFault, type ScriptedLoad } from './load-script';

/**
 * Job submissions (`POST /api/job`, built by `request`) to one API at a fixed rate while `fault` breaks Redis under
 * it. The API's promise while Redis is unavailable: every submission is answered, 202 (acknowledged: the job is
 * in Redis) or 503 (refused), within 5 s; anything else is one of the load's failures.
 */
export function submitJobsThroughFault<T>(
  api: RunningService,
  plan: FaultUnderLoad & { request: (sequence: number) => LoadRequest },
  fault: () => Promise<T>,
): Promise<ScriptedLoad<T>> {
  return runLoadWithFault(
    {
      ...plan,
      route: () => api.url,
      isSuccess: (status) => status === 202 || status === 503,
      timeoutMs: 5_000,
    },
    fault,
  );
}

/** A job the API acknowledged (202) during a load: its id, and when it was sent on the load's clock. */
export interface AcknowledgedJob {
  id: string;
  sentAtMs: number;
}

/** The jobs a load's 202 answers acknowledged: each one a job that must not be lost. */
export function acknowledgedJobs(load: LoadResult): AcknowledgedJob[] {
  return load.records
    .filter((record) => record.status === 202)
    .map((record) => ({ id: (record.body as { id: string }).id, sentAtMs: record.sentAtMs }));
}
