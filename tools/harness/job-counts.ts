import type { JobType, Queue } from 'bullmq';
import { waitFor } from './wait';

/**
 * Waits until `queue` holds exactly `count` jobs in `state`, as BullMQ counts them, or fails after `timeoutMs`
 * saying so. For a test that knows how many jobs it put in: all of them completed, all of them failed for good.
 */
export async function waitForJobCount(
  queue: Queue,
  state: JobType,
  count: number,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `${count} jobs ${state}`,
    async () => (await queue.getJobCountByTypes(state)) === count,
    timeoutMs,
    200,
  );
}
