// rehearse:canary: prove on this machine, with no cluster, that a bad release is stopped by the canary
// analysis alone. See docs/canary.md for what it shows and the figures it measured.
import { PrometheusServer, sharedRedisUrl } from '@opsforge/harness';
import { parseOptions, runCli, UsageError } from '../lib/cli';
import { canaryPlan, renderOverlay } from './manifests';
import { rehearse, type RehearsalReport } from './rehearsal';
import { formatAbortTimings, formatReport } from './report';
import { CATALOGUE, DEFAULT_SCENARIOS } from './scenarios';

const USAGE = `Usage: npm run rehearse:canary -- [--scenario <name>]... [--env dev] [--time-scale 15]
                                  [--request-rate 400] [--job-rate 20] [--json]

Rehearses the canary gate of gitops/envs/<env> on this machine: a real Prometheus scrapes a stable and a
deliberately bad canary pod of the real api (or worker), user traffic is split by the Rollout's first
setWeight, and the rendered AnalysisTemplates are evaluated with Argo Rollouts' rules. Needs kubectl
(kustomize), prometheus, and Redis at REDIS_URL (default redis://127.0.0.1:6379); the services are built
first if their dist/ is out of date.

  --scenario      one of: ${Object.keys(CATALOGUE).join(', ')}, or all
                  (repeatable; default: ${DEFAULT_SCENARIOS.join(', ')})
  --env           overlay to take the Rollouts and AnalysisTemplates from (default dev)
  --time-scale    divide every duration (intervals, delays, pauses, PromQL ranges, scrape interval) by this
                  (default 15: a 15 s interval takes 1 s)
  --request-rate  user requests per second to the api, stable and canary together (default 400: 20/s at
                  the 5% first weight, 80 requests per scaled 1 m window, above the templates'
                  min-request-rate of 1/s = 60 per window)
  --job-rate      jobs per second enqueued for the worker scenario (default 20)
  --json          print the reports as JSON instead of text

Exit status: 0 every scenario reached its expected verdict, 1 one did not (or the rehearsal could not run),
2 bad arguments.`;

function positiveNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new UsageError(`${flag} must be a positive number (got ${JSON.stringify(value)})`);
  return parsed;
}

async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv, {
    scenario: { type: 'string', multiple: true },
    env: { type: 'string' },
    'time-scale': { type: 'string' },
    'request-rate': { type: 'string' },
    'job-rate': { type: 'string' },
    json: { type: 'boolean' },
  });
  const requested = (options.scenario as string[] | undefined) ?? DEFAULT_SCENARIOS;
  const names = requested.includes('all') ? Object.keys(CATALOGUE) : requested;
  for (const name of names) {
    if (!CATALOGUE[name])
      throw new UsageError(
        `unknown scenario ${JSON.stringify(name)} (one of: ${Object.keys(CATALOGUE).join(', ')}, all)`,
      );
  }
  const timeScale = positiveNumber(options['time-scale'] as string | undefined, '--time-scale', 15);
  if (timeScale < 1) throw new UsageError('--time-scale must be at least 1');
  const environment = (options.env as string | undefined) ?? 'dev';

  const objects = await renderOverlay(environment);
  const placeholderHashes = { stable: 'stable', canary: 'canary' };
  const scrapeIntervalMs = Math.min(
    ...['api', 'worker'].map((rollout) => canaryPlan(objects, rollout, placeholderHashes).scrapeIntervalMs),
  );
  const prometheus = await PrometheusServer.start({ scrapeIntervalMs: scrapeIntervalMs / timeScale });
  const log = options.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  log?.(`prometheus ${prometheus.url}, scraping every ${scrapeIntervalMs / timeScale} ms`);
  const reports: RehearsalReport[] = [];
  const misses: string[] = [];
  try {
    for (const name of names) {
      const entry = CATALOGUE[name];
      log?.(`\n[${name}] ${entry.purpose}`);
      const report = await rehearse(entry.scenario, {
        objects,
        environment,
        timeScale,
        prometheus,
        redisUrl: sharedRedisUrl(),
        requestRatePerSecond: positiveNumber(
          options['request-rate'] as string | undefined,
          '--request-rate',
          400,
        ),
        jobRatePerSecond: positiveNumber(options['job-rate'] as string | undefined, '--job-rate', 20),
        log,
      });
      reports.push(report);
      if (!options.json) process.stdout.write(`${formatReport(report)}\n\n`);
      for (const run of report.runs) {
        if (run.phase !== entry.expectedPhase)
          misses.push(
            `${name}: expected ${entry.expectedPhase} (${entry.expectedDecision}), got ${run.phase} (${run.decision})`,
          );
      }
    }
  } finally {
    await prometheus.stop();
  }
  if (options.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  else process.stdout.write(`${formatAbortTimings(reports)}\n`);
  if (misses.length > 0)
    throw new Error(`the canary gate did not behave as required:\n  ${misses.join('\n  ')}`);
}

void runCli('rehearse:canary', USAGE, main);
