// The rehearsal's report, for a human: what was rehearsed, every measurement, the verdict, how long it took
// (in rehearsal time and converted back to production time), and what the canary's users went through.
import type { RehearsalReport, RunReport } from './rehearsal';

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(1)}%`;
}

const DECISION_TEXT: Record<RunReport['decision'], string> = {
  abort: 'ABORT: canary weight back to 0, no human involved',
  pause: 'PAUSE: the Rollout waits for a human (neither promoted nor aborted)',
  promote: 'PROMOTE: the canary continued through its steps',
};

export function formatReport(report: RehearsalReport): string {
  const lines: string[] = [];
  const scale = report.timeScale;
  lines.push(
    `== ${report.scenario}: Rollout ${report.namespace}/${report.rollout} (gitops/envs/${report.environment}), templates ${report.templates.join(', ')}`,
  );
  lines.push(
    `   canary build: ${Object.entries(report.canaryBuild)
      .map(([name, value]) => `${name}=${value}`)
      .join(
        ' ',
      )}; first setWeight ${report.firstWeight}%; pod-template hashes stable ${report.hashes.stable}, canary ${report.hashes.canary}`,
  );
  lines.push(
    `   time scale 1/${scale}: scrape every ${seconds(report.scrapeIntervalMs.rehearsal)} (production ${seconds(report.scrapeIntervalMs.production)}); every interval, delay, pause and PromQL range divided by ${scale}`,
  );
  lines.push(
    `   args: ${Object.entries(report.args)
      .map(([name, value]) => `${name}=${value}`)
      .join(', ')}`,
  );
  report.runs.forEach((run, index) => {
    if (report.runs.length > 1) lines.push(`   -- run ${index + 1} of ${report.runs.length}`);
    for (const metric of run.metrics) {
      const limits = `failureLimit ${metric.limits.failureLimit}, inconclusiveLimit ${metric.limits.inconclusiveLimit}, consecutiveErrorLimit ${metric.limits.consecutiveErrorLimit}, count ${metric.limits.count ?? 'unbounded'}`;
      const rewrites = metric.queryRewrites.map((rewrite) => `[${rewrite.from}]->[${rewrite.to}]`).join(' ');
      lines.push(
        `   metric ${metric.name}${metric.dryRun ? ' (dry run)' : ''}: ${metric.phase}${metric.message ? ` (${metric.message})` : ''}; ${limits}${rewrites ? `; rewrites ${rewrites}` : ''}`,
      );
      for (const measurement of metric.measurements) {
        const at = `t+${measurement.atSeconds.toFixed(2)} s (production t+${(measurement.atSeconds * scale).toFixed(0)} s)`;
        lines.push(
          `     ${at.padEnd(38)} ${measurement.phase.padEnd(12)} ${measurement.value ?? ''}${measurement.message ? `  ${measurement.message}` : ''}`,
        );
      }
    }
    lines.push(`   run: ${run.phase}${run.message ? ` - ${run.message}` : ''}`);
    lines.push(`   decision: ${DECISION_TEXT[run.decision]}`);
    lines.push(
      `   time to decision: ${seconds(run.decidedAfterMs)} after the canary took traffic (production equivalent ${seconds(run.decidedAfterMs * scale)}), at canary weight ${run.weightAtDecision}%; the analysis started ${seconds(run.analysisStartedAfterMs)} after the canary took traffic`,
    );
    lines.push(
      `   canary before the decision: ${run.canary.served} ${run.canary.unit}, ${run.canary.failed} failed (${percent(run.canary.failed, run.canary.served)})`,
    );
  });
  lines.push(`   ${report.background.label}: ${report.background.sent}, ${report.background.failed} failed`);
  return lines.join('\n');
}

/** The production goal for every bad build (issue 13, item 3): aborted within 60 s of taking traffic. */
export const ABORT_GOAL_SECONDS = 60;

/**
 * One line per aborted run: the production-equivalent time from the canary's first traffic to the abort,
 * against the goal. Shown, never asserted: a timing on a shared machine is evidence, not a pass/fail test.
 */
export function formatAbortTimings(reports: RehearsalReport[]): string {
  const aborts = reports.flatMap((report) =>
    report.runs
      .filter((run) => run.decision === 'abort')
      .map((run) => ({ report, run, seconds: (run.decidedAfterMs * report.timeScale) / 1000 })),
  );
  if (aborts.length === 0) return 'abort timings: no run aborted';
  const width = Math.max(...aborts.map(({ report }) => report.scenario.length));
  return [
    `abort timings (production equivalent, from the canary's first traffic; goal <= ${ABORT_GOAL_SECONDS} s):`,
    ...aborts.map(
      ({ report, run, seconds }) =>
        `  ${report.scenario.padEnd(width)}  ${`${seconds.toFixed(0)} s`.padStart(5)}  ${seconds <= ABORT_GOAL_SECONDS ? 'within the goal' : 'OVER the goal'}  (${run.phase} at weight ${run.weightAtDecision}%: ${run.message})`,
    ),
  ].join('\n');
}
