// How often, and when, would the rendered error-rate gate abort a canary (a healthy one: a false abort)? A Monte Carlo over releases, read from the
// templates of `gitops/envs/<env>` (initialDelay, interval, count, failureLimit, max-error-ratio,
// min-request-rate, the acceptance Job's request rate) and Prometheus' rules for a 1 m rate():
//
//   - the canary gets user requests (Poisson, `--user-rate` per second at the canary) from 0 s and the
//     acceptance Job's synthetic ones (fixed rate) from `--job-start` seconds; each fails with `--error-ratio`;
//   - Prometheus scrapes every 15 s at a random phase; the 5xx and the success series of the judged routes exist
//     at 0 from start-up (services/api/src/http-metrics.ts), user and synthetic; rate() over a window uses the
//     samples inside it, extrapolated to the window's edges as Prometheus does (up to 1.1 average intervals,
//     else half an interval; never below zero);
//   - each measurement is Inconclusive below the traffic floor, Failed at or above the threshold; the release is
//     aborted when failures exceed failureLimit.
//
// npx tsx tools/rehearse-canary/false-aborts.ts [--env dev] [--user-rate 0] [--error-ratio 0.01] [--releases 100000]
import { parseArgs } from 'node:util';
import { parseGoDuration } from '../lib/duration';
import { canaryPlan, renderOverlay } from './manifests';

const SCRAPE_SECONDS = 15;

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Prometheus' extrapolatedRate for a counter sampled at `samples` ([time, value]), over (end - range, end]. */
function extrapolatedRate(samples: [number, number][], end: number, range: number): number | undefined {
  const inside = samples.filter(([time]) => time > end - range && time <= end);
  if (inside.length < 2) return undefined;
  const [firstTime, firstValue] = inside[0];
  const [lastTime, lastValue] = inside.at(-1)!;
  const increase = lastValue - firstValue;
  const sampled = lastTime - firstTime;
  const average = sampled / (inside.length - 1);
  let toStart = firstTime - (end - range);
  const toEnd = end - lastTime;
  if (increase > 0 && firstValue >= 0) toStart = Math.min(toStart, sampled * (firstValue / increase));
  const threshold = average * 1.1;
  const extrapolateTo =
    sampled + (toStart < threshold ? toStart : average / 2) + (toEnd < threshold ? toEnd : average / 2);
  return (increase * (extrapolateTo / sampled)) / range;
}

interface Series {
  born: number | undefined;
  /** Cumulative count at each request time. */
  events: number[];
}

function countAt(series: Series, time: number): number | undefined {
  if (series.born === undefined || time < series.born) return undefined;
  let count = 0;
  for (const event of series.events) if (event <= time) count += 1;
  return count;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'dev' },
      'user-rate': { type: 'string', default: '0' },
      'error-ratio': { type: 'string', default: '0.01' },
      'job-start': { type: 'string', default: '5' },
      releases: { type: 'string', default: '100000' },
    },
  });
  const objects = await renderOverlay(values.env);
  const plan = canaryPlan(objects, 'api', { stable: 'stable', canary: 'canary' });
  const metric = plan.metrics.find((candidate) => candidate.name === 'error-ratio')!;
  const initialDelay = parseGoDuration(metric.initialDelay!) / 1000;
  const interval = parseGoDuration(metric.interval!) / 1000;
  const count = Number(metric.count);
  const failureLimit = Number(metric.failureLimit ?? 0);
  const threshold = Number(plan.args['max-error-ratio']);
  const floor = Number(plan.args['min-request-rate']);
  const synthetic = Number(plan.args['requests-per-second']) + Number(plan.args['jobs-per-second']);
  const range = 60;
  const userRate = Number(values['user-rate']);
  const errorRatio = Number(values['error-ratio']);
  const jobStart = Number(values['job-start']);
  const releases = Number(values.releases);
  const end = initialDelay + interval * (count - 1);
  const next = random(20261130);

  let aborted = 0;
  let judgedFirstAt = 0;
  const abortTimes: number[] = [];
  for (let release = 0; release < releases; release += 1) {
    const phase = next() * SCRAPE_SECONDS;
    const ok: Series[] = [
      { born: -Infinity, events: [] },
      { born: -Infinity, events: [] },
    ];
    const failed: Series[] = [
      { born: -Infinity, events: [] },
      { born: -Infinity, events: [] },
    ];
    const record = (source: number, time: number) => {
      const series = next() < errorRatio ? failed[source] : ok[source];
      series.born ??= time;
      series.events.push(time);
    };
    for (
      let time = userRate > 0 ? -Math.log(1 - next()) / userRate : Infinity;
      time < end;
      time += -Math.log(1 - next()) / userRate
    )
      record(0, time);
    for (let time = jobStart; time < end; time += 1 / synthetic) record(1, time);
    const scrapes: number[] = [];
    for (let time = phase - SCRAPE_SECONDS * 5; time <= end; time += SCRAPE_SECONDS) scrapes.push(time);
    const samplesOf = (series: Series) =>
      scrapes.flatMap((time): [number, number][] => {
        const value = countAt(series, time);
        return value === undefined ? [] : [[time, value]];
      });
    const okSamples = ok.map(samplesOf);
    const failedSamples = failed.map(samplesOf);
    let failures = 0;
    let firstJudged: number | undefined;
    for (let index = 0; index < count; index += 1) {
      const at = initialDelay + index * interval;
      const errors = failedSamples.reduce(
        (sum, samples) => sum + (extrapolatedRate(samples, at, range) ?? 0),
        0,
      );
      const all = [...okSamples, ...failedSamples].reduce(
        (sum, samples) => sum + (extrapolatedRate(samples, at, range) ?? 0),
        0,
      );
      if (!(all > floor)) continue;
      firstJudged ??= at;
      if (errors / all >= threshold) failures += 1;
      if (failures > failureLimit) {
        aborted += 1;
        abortTimes.push(at);
        break;
      }
    }
    judgedFirstAt += firstJudged ?? end;
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        env: values.env,
        template: {
          initialDelay,
          interval,
          count,
          failureLimit,
          threshold,
          floor,
          syntheticPerSecond: synthetic,
        },
        canary: { userRequestsPerSecond: userRate, errorRatio, acceptanceJobStartsAt: jobStart },
        releases,
        aborts: aborted,
        abortProbability: aborted / releases,
        // Seconds from the canary's first traffic to the measurement that aborted (controller reaction aside).
        latestAbortSeconds: abortTimes.length ? Math.max(...abortTimes) : undefined,
        meanFirstJudgedMeasurementSeconds: judgedFirstAt / releases,
      },
      null,
      2,
    )}\n`,
  );
}

void main();
