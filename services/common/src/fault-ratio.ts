/**
 * Which events of a stream an injected fault hits (CHAOS_ERROR_RATIO on the API's requests,
 * CHAOS_JOB_FAILURE_RATIO on the worker's attempts): exactly `ratio` of them, evenly spread (the n-th event is hit
 * when floor(n × ratio) grows: every fifth at 0.2), not a random draw per event. A canary rehearsal then judges
 * the fault it was given: with a draw, a 20% fault read 9.6% over the first window of a worker canary at 5 jobs/s
 * (below the gate's 10%), and the abort came a measurement late. How the gate copes with a random fault is what
 * the Monte Carlo in docs/canary.md measures.
 */
export function faultHits(ratio: number): () => boolean {
  // The production setting: the worker asks once per job, so nothing to count.
  if (ratio === 0) return () => false;
  let events = 0;
  return () => {
    events += 1;
    return Math.floor(events * ratio) > Math.floor((events - 1) * ratio);
  };
}
