import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadOptions, type LoadResult, runOpenLoopLoad } from './open-loop-load';

/** The moments of a running load, for a script that acts at set times into it. */
export interface LoadClock {
  /** Resolves `ms` after the load started (at once when that moment has passed). */
  at(ms: number): Promise<void>;
}

export interface ScriptedLoad<T> {
  load: LoadResult;
  /** What the script returned. */
  outcome: T;
  /**
   * A `performance.now()` stamp the script took, as ms on the load's clock: the clock of every record's
   * `sentAtMs` and `answeredAtMs`, so that requests can be told apart by whether they came before or after it.
   */
  onLoadClock(stamp: number): number;
}

/**
 * A fixed-rate load (`runOpenLoopLoad`) and, beside it, a script of what happens to the system meanwhile: a
 * replica terminated, Redis killed, the heap measured, at set moments of the load (`clock.at(ms)`). Resolves when
 * both have finished; a script that fails fails the run once the load has finished, so no request is left open.
 */
export async function runLoadWithScript<T>(
  options: LoadOptions,
  script: (clock: LoadClock) => Promise<T>,
): Promise<ScriptedLoad<T>> {
  const startedAt = performance.now();
  const scripted = script({ at: (ms) => sleep(Math.max(0, startedAt + ms - performance.now())) });
  // Observed at once, so that a script failing while the load runs is not an unhandled rejection; awaited below.
  scripted.catch(() => undefined);
  const load = await runOpenLoopLoad(options);
  return { load, outcome: await scripted, onLoadClock: (stamp) => stamp - load.startedAt };
}

/** A load with a fault injected into it: the rate, how long, and when into the load the fault starts. */
export interface FaultUnderLoad {
  ratePerSecond: number;
  durationMs: number;
  faultAtMs: number;
}

/** `runLoadWithScript` whose script is one fault, started `faultAtMs` into the load. */
export function runLoadWithFault<T>(
  options: LoadOptions & FaultUnderLoad,
  fault: () => Promise<T>,
): Promise<ScriptedLoad<T>> {
  return runLoadWithScript(options, async ({ at }) => {
    await at(options.faultAtMs);
    return fault();
  });
}
