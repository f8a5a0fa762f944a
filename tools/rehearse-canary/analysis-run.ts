// The AnalysisRun controller of Argo Rollouts (analysis/analysis.go, utils/analysis/helpers.go,
// utils/evaluate/evaluate.go), reproduced for one run outside a cluster:
//
//   - a measurement is taken when it is due: the first after `initialDelay` (counted from the run's
//     start), then every `interval` after the previous one finished, every 10 s after an Error whatever
//     the interval; no interval and no count means one measurement;
//   - Successful, Failed and Inconclusive measurements add to `count`; an Error does not, it adds to the
//     consecutive-error counter that any other outcome resets;
//   - a metric is Failed when failed > failureLimit (default 0), Inconclusive when inconclusive >
//     inconclusiveLimit (default 0), Error when consecutive errors > consecutiveErrorLimit (default 4),
//     checked in that order with the later one winning, and otherwise Successful once `count` is reached;
//   - the first metric that completes Failed, Error or Inconclusive terminates the run: the other metrics
//     stop measuring and count as Successful, and the run takes the worst phase (Failed > Error >
//     Inconclusive > Successful) of its non-dry-run metrics;
//   - a Rollout aborts on a Failed or Error run and pauses on an Inconclusive one.
//
// Time is injected (a clock and a scale factor that divides every duration of the spec), so the same
// rules run in unit tests on a fake clock and in the rehearsal on a fast real one.
import { parseGoDuration } from '../lib/duration';
import { type IntOrString, intValue } from '../lib/int-or-string';

export type AnalysisPhase = 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Error' | 'Inconclusive';

export function isCompleted(phase: AnalysisPhase): boolean {
  return phase === 'Successful' || phase === 'Failed' || phase === 'Error' || phase === 'Inconclusive';
}

/** Argo's analysisStatusOrder, best to worst. */
const PHASE_ORDER: AnalysisPhase[] = ['Successful', 'Running', 'Pending', 'Inconclusive', 'Error', 'Failed'];

function isWorse(current: AnalysisPhase, candidate: AnalysisPhase): boolean {
  return PHASE_ORDER.indexOf(candidate) > PHASE_ORDER.indexOf(current);
}

/** Argo's DefaultErrorRetryInterval: the wait after an Error measurement, whatever the metric's interval. */
export const ERROR_RETRY_INTERVAL_MS = 10_000;
/** Argo's DefaultConsecutiveErrorLimit. */
export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

/** A metric of an AnalysisRun spec, after argument substitution (the fields the Prometheus provider uses). */
export interface MetricSpec {
  name: string;
  interval?: string;
  initialDelay?: string;
  count?: IntOrString;
  failureLimit?: IntOrString;
  inconclusiveLimit?: IntOrString;
  consecutiveErrorLimit?: IntOrString;
  consecutiveSuccessLimit?: IntOrString;
  successCondition?: string;
  failureCondition?: string;
  provider: Record<string, unknown>;
}

export interface Measurement {
  phase: AnalysisPhase;
  startedAt: number;
  finishedAt: number;
  value?: string;
  message?: string;
}

/** What a provider returns for one query; the run stamps the times. */
export type MeasurementOutcome = Pick<Measurement, 'phase' | 'value' | 'message'>;

/**
 * A measurement that takes time, as a job metric's Job does: Running until `completion` settles (Argo's Resume
 * sees the Job's condition); when the run ends first, `terminate` stops it and the measurement counts
 * Successful (JobProvider.Terminate deletes the Job).
 */
export interface RunningMeasurement {
  completion: Promise<MeasurementOutcome>;
  terminate(): Promise<void>;
}

/**
 * Takes one measurement. Resolves with an Error outcome for anything Argo records as an Error; rejects only
 * when the rehearsal itself cannot continue.
 */
export type MeasurementProvider = (metric: MetricSpec) => Promise<MeasurementOutcome | RunningMeasurement>;

function isRunning(outcome: MeasurementOutcome | RunningMeasurement): outcome is RunningMeasurement {
  return 'completion' in outcome;
}

export interface MetricResult {
  name: string;
  phase: AnalysisPhase;
  dryRun: boolean;
  measurements: Measurement[];
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  message?: string;
}

/** The MetricResult tally of each phase a measurement can complete with. */
const COUNTED_PHASES: Partial<Record<AnalysisPhase, 'successful' | 'failed' | 'inconclusive' | 'error'>> = {
  Successful: 'successful',
  Failed: 'failed',
  Inconclusive: 'inconclusive',
  Error: 'error',
};

/** Metric.EffectiveCount(): no count and no interval means one measurement; only an interval means forever. */
function effectiveCount(metric: MetricSpec): number | undefined {
  const count = intValue(metric.count);
  if (count === undefined || count === 0) return metric.interval ? undefined : 1;
  return count;
}

/** The limits a metric is judged by, with Argo's defaults. */
export function metricLimits(metric: MetricSpec) {
  return {
    failureLimit: intValue(metric.failureLimit) ?? 0,
    inconclusiveLimit: intValue(metric.inconclusiveLimit) ?? 0,
    consecutiveErrorLimit: intValue(metric.consecutiveErrorLimit) ?? DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    count: effectiveCount(metric),
  };
}

/** analysisutil.ValidateMetrics, for the fields this rehearsal reads. Returns the problem, or undefined. */
export function validateMetric(metric: MetricSpec): string | undefined {
  const count = intValue(metric.count) ?? 0;
  const { failureLimit, inconclusiveLimit } = metricLimits(metric);
  if (failureLimit < 0 || (intValue(metric.consecutiveSuccessLimit) ?? 0) > 0) {
    // Argo 1.8 added consecutiveSuccessLimit and a disabled (-1) failureLimit; their interplay is not
    // reproduced here, so a template that uses them is refused instead of judged by guesswork.
    return `metric ${metric.name}: consecutiveSuccessLimit / negative failureLimit are not reproduced by the rehearsal`;
  }
  if (count > 0 && count < failureLimit) return `metric ${metric.name}: count must be >= failureLimit`;
  if (count > 0 && count < inconclusiveLimit)
    return `metric ${metric.name}: count must be >= inconclusiveLimit`;
  if (count > 1 && !metric.interval)
    return `metric ${metric.name}: interval must be specified when count > 1`;
  for (const field of ['interval', 'initialDelay'] as const) {
    const text = metric[field];
    if (text === undefined) continue;
    try {
      parseGoDuration(text);
    } catch (error) {
      return `metric ${metric.name}: ${field}: ${(error as Error).message}`;
    }
  }
  if (Object.keys(metric.provider ?? {}).length !== 1)
    return `metric ${metric.name}: exactly one provider must be specified`;
  return undefined;
}

export interface AnalysisRunOptions {
  metrics: MetricSpec[];
  /** Names of the metrics whose outcome must not decide the run (spec.dryRun, already matched). */
  dryRunMetrics?: ReadonlySet<string>;
  provider: MeasurementProvider;
  /** Milliseconds since an arbitrary origin. */
  clock: () => number;
  /** Every duration of the spec (and the 10 s error retry) is divided by this. 1 = production timing. */
  timeScale?: number;
}

export class AnalysisRun {
  phase: AnalysisPhase = 'Pending';
  message = '';
  startedAt?: number;
  completedAt?: number;
  private terminateRequested = false;
  readonly results = new Map<string, MetricResult>();
  /** Measurements still Running, by metric; `outcome` is set once the measurement completed on its own. */
  private readonly running = new Map<
    string,
    { handle: RunningMeasurement; outcome?: MeasurementOutcome; settled: Promise<void> }
  >();
  private readonly metrics: MetricSpec[];
  private readonly dryRun: ReadonlySet<string>;
  private readonly timeScale: number;

  constructor(private readonly options: AnalysisRunOptions) {
    this.metrics = options.metrics;
    this.dryRun = options.dryRunMetrics ?? new Set();
    this.timeScale = options.timeScale ?? 1;
    const names = new Set<string>();
    for (const metric of this.metrics) {
      if (names.has(metric.name)) throw new Error(`two metrics have the same name '${metric.name}'`);
      names.add(metric.name);
    }
  }

  /** The Rollout ends a background run this way when the rollout completes or aborts (spec.terminate). */
  terminate(): void {
    this.terminateRequested = true;
  }

  private duration(text: string): number {
    return parseGoDuration(text) / this.timeScale;
  }

  private isTerminating(): boolean {
    if (this.terminateRequested) return true;
    for (const result of this.results.values()) {
      if (
        !result.dryRun &&
        (result.phase === 'Failed' || result.phase === 'Error' || result.phase === 'Inconclusive')
      )
        return true;
    }
    return false;
  }

  private dueMetrics(now: number): MetricSpec[] {
    const terminating = this.isTerminating();
    const due: MetricSpec[] = [];
    for (const metric of this.metrics) {
      const result = this.results.get(metric.name);
      if (result && isCompleted(result.phase)) continue;
      if (terminating || this.running.has(metric.name)) continue;
      const last = result?.measurements.at(-1);
      if (!last) {
        if (metric.initialDelay) {
          // The run's start is stamped at the end of its first reconcile: a delayed metric never
          // measures in that first pass, exactly as in the controller.
          if (this.startedAt === undefined) continue;
          if (this.startedAt + this.duration(metric.initialDelay) > now) continue;
        }
        due.push(metric);
        continue;
      }
      const count = effectiveCount(metric);
      if (count !== undefined && result!.count >= count) continue;
      const interval =
        last.phase === 'Error' || !metric.interval
          ? ERROR_RETRY_INTERVAL_MS / this.timeScale
          : this.duration(metric.interval);
      if (now > last.finishedAt + interval) due.push(metric);
    }
    return due;
  }

  private async measure(metric: MetricSpec): Promise<void> {
    const startedAt = this.options.clock();
    // A provider turns every failure Argo would record (query error, unreachable server, bad condition)
    // into an Error measurement itself; what it throws means the rehearsal cannot go on, so it propagates.
    const outcome = await this.options.provider(metric);
    const result = this.resultOf(metric);
    if (isRunning(outcome)) {
      result.measurements.push({ phase: 'Running', startedAt, finishedAt: Number.NaN });
      const entry: { handle: RunningMeasurement; outcome?: MeasurementOutcome; settled: Promise<void> } = {
        handle: outcome,
        settled: outcome.completion.then((completed) => {
          entry.outcome = completed;
        }),
      };
      this.running.set(metric.name, entry);
      return;
    }
    result.measurements.push({ ...outcome, startedAt, finishedAt: this.options.clock() });
    this.count(result, outcome.phase);
  }

  private resultOf(metric: MetricSpec): MetricResult {
    let result = this.results.get(metric.name);
    if (!result) {
      result = {
        name: metric.name,
        phase: 'Running',
        dryRun: this.dryRun.has(metric.name),
        measurements: [],
        count: 0,
        successful: 0,
        failed: 0,
        inconclusive: 0,
        error: 0,
        consecutiveError: 0,
      };
      this.results.set(metric.name, result);
    }
    return result;
  }

  /** Argo's counting: an Error counts toward consecutiveErrorLimit only; any other phase toward `count`. */
  private count(result: MetricResult, phase: AnalysisPhase): void {
    const tally = COUNTED_PHASES[phase];
    if (!tally) throw new Error(`provider returned a measurement that is not complete: ${phase}`);
    result[tally] += 1;
    if (phase === 'Error') {
      result.consecutiveError += 1;
    } else {
      result.count += 1;
      result.consecutiveError = 0;
    }
  }

  /**
   * runMeasurements for the measurements in progress: a completed one takes its outcome (Resume), and a run
   * that is terminating stops the others, which count Successful ("Metric Terminated").
   */
  private async settleRunning(): Promise<void> {
    const terminating = this.isTerminating();
    for (const [name, entry] of [...this.running]) {
      let outcome = entry.outcome;
      if (!outcome && terminating) {
        await entry.handle.terminate();
        outcome = entry.outcome ?? { phase: 'Successful', message: 'Metric Terminated' };
      }
      if (!outcome) continue;
      this.running.delete(name);
      const result = this.results.get(name)!;
      const measurement = result.measurements.at(-1)!;
      Object.assign(measurement, outcome, { finishedAt: this.options.clock() });
      this.count(result, outcome.phase);
    }
  }

  /** Settles when a measurement in progress completes on its own (the controller is enqueued by the Job). */
  measurementCompleted(): Promise<void> {
    const pending = [...this.running.values()].filter((entry) => !entry.outcome);
    return pending.length === 0 ? new Promise(() => {}) : Promise.race(pending.map((entry) => entry.settled));
  }

  /** assessMetricFailureInconclusiveOrError: the later checks win, as in the controller. */
  private failureInconclusiveOrError(
    metric: MetricSpec,
    result: MetricResult,
  ): { phase?: AnalysisPhase; message?: string } {
    const limits = metricLimits(metric);
    let verdict: { phase?: AnalysisPhase; message?: string } = {};
    if (result.failed > limits.failureLimit) {
      verdict = {
        phase: 'Failed',
        message: `failed (${result.failed}) > failureLimit (${limits.failureLimit})`,
      };
    }
    if (result.inconclusive > limits.inconclusiveLimit) {
      verdict = {
        phase: 'Inconclusive',
        message: `inconclusive (${result.inconclusive}) > inconclusiveLimit (${limits.inconclusiveLimit})`,
      };
    }
    if (result.consecutiveError > limits.consecutiveErrorLimit) {
      verdict = {
        phase: 'Error',
        message: `consecutiveErrors (${result.consecutiveError}) > consecutiveErrorLimit (${limits.consecutiveErrorLimit})`,
      };
    }
    return verdict;
  }

  private metricStatus(metric: MetricSpec, result: MetricResult, terminating: boolean): AnalysisPhase {
    if (isCompleted(result.phase)) return result.phase;
    if (this.running.has(metric.name)) return 'Running';
    if (result.measurements.length === 0) return terminating ? 'Successful' : 'Pending';
    const verdict = this.failureInconclusiveOrError(metric, result);
    if (verdict.phase) return verdict.phase;
    const count = effectiveCount(metric);
    if (count !== undefined && result.count >= count) return 'Successful';
    return terminating ? 'Successful' : 'Running';
  }

  private assess(now: number): void {
    const terminating = this.isTerminating();
    if (this.startedAt === undefined) this.startedAt = now;
    let worst: AnalysisPhase | undefined;
    let worstMessage = this.terminateRequested ? 'Run Terminated' : '';
    let everythingCompleted = true;
    for (const metric of this.metrics) {
      const result = this.results.get(metric.name);
      if (!result) {
        // Never measured: a terminating run counts it as Successful, otherwise it is still to come.
        if (!terminating) everythingCompleted = false;
        continue;
      }
      const status = this.metricStatus(metric, result, terminating);
      result.phase = status;
      if (!isCompleted(status)) {
        everythingCompleted = false;
        continue;
      }
      if (result.dryRun) {
        worst ??= 'Successful';
        continue;
      }
      const verdict = this.failureInconclusiveOrError(metric, result);
      result.message = result.measurements.at(-1)?.message;
      if (worst === undefined || isWorse(worst, status)) {
        worst = status;
        if (verdict.message) {
          worstMessage = `Metric "${metric.name}" assessed ${status} due to ${verdict.message}`;
          if (result.message) worstMessage += `: "Error Message: ${result.message}"`;
        }
      }
    }
    if (terminating) {
      this.complete(worst ?? 'Successful', worstMessage, now);
      return;
    }
    if (everythingCompleted && worst !== undefined) this.complete(worst, worstMessage, now);
    else this.phase = 'Running';
  }

  private complete(phase: AnalysisPhase, message: string, now: number): void {
    this.phase = phase;
    this.message = message.trim();
    this.completedAt = now;
  }

  /** When the controller would look at this run next (calculateNextReconcileTime), or undefined if never. */
  nextReconcileAt(): number | undefined {
    let next: number | undefined;
    const consider = (at: number) => {
      if (next === undefined || at < next) next = at;
    };
    for (const metric of this.metrics) {
      const result = this.results.get(metric.name);
      if (result && isCompleted(result.phase)) continue;
      const last = result?.measurements.at(-1);
      if (!last) {
        if (metric.initialDelay)
          consider((this.startedAt ?? this.options.clock()) + this.duration(metric.initialDelay));
        continue;
      }
      const count = effectiveCount(metric);
      if (count !== undefined && result!.count >= count) continue;
      if (last.phase === 'Error') consider(last.finishedAt + ERROR_RETRY_INTERVAL_MS / this.timeScale);
      else if (metric.interval) consider(last.finishedAt + this.duration(metric.interval));
    }
    return next;
  }

  private statusSnapshot(): string {
    return JSON.stringify([
      this.phase,
      this.message,
      [...this.results.values()].map((result) => [
        result.phase,
        result.measurements.length,
        result.measurements.at(-1)?.phase,
      ]),
    ]);
  }

  /**
   * One pass of reconcileAnalysisRun: take the due measurements (in parallel), then assess the run.
   * Resolves true when the run's status changed: the controller persists it, and its own informer sees the
   * update and reconciles the run again at once (that second pass is where a run whose metric just failed
   * notices it is terminating).
   */
  async reconcile(): Promise<boolean> {
    if (isCompleted(this.phase)) return false;
    const before = this.statusSnapshot();
    for (const metric of this.metrics) {
      const problem = validateMetric(metric);
      if (problem) {
        this.complete('Error', `Analysis spec invalid: ${problem}`, this.options.clock());
        return true;
      }
    }
    await this.settleRunning();
    const due = this.dueMetrics(this.options.clock());
    await Promise.all(due.map((metric) => this.measure(metric)));
    this.assess(this.options.clock());
    return this.statusSnapshot() !== before;
  }

  /** Reconciles until the status stops changing, as the controller's update events make it do. */
  async reconcileUntilSettled(): Promise<void> {
    while ((await this.reconcile()) && !isCompleted(this.phase)) {
      // Each persisted status change re-enqueues the run; nothing is due, so only the assessment moves.
    }
  }
}
