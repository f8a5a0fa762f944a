// The canary analysis queries, exactly as gitops/envs/dev renders them, evaluated by Prometheus' own engine
// (`promtool test rules`, promql_expr_test) against series shaped like a canary's: the traps the templates
// claim to handle are checked on real PromQL semantics, not by reading the text.
//   - an empty result is what makes a measurement Inconclusive (both conditions guard len(result) == 1);
//   - a single number is compared to the threshold arg.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type ObjectOfKind, ofKind } from '../tools/lib/kubernetes';
import { kustomizeObjects } from '../tools/lib/kustomize';
import { substituteArgs } from '../tools/lib/template-args';

const repositoryRoot = join(__dirname, '..');
const CANARY = 'canaryhash1';
const STABLE = 'stablehash1';
let templates: ObjectOfKind<'AnalysisTemplate'>[];
let scratch: string;

beforeAll(() => {
  templates = ofKind(
    { objects: kustomizeObjects(join(repositoryRoot, 'gitops/envs/dev'), 'gitops/envs/dev') },
    'AnalysisTemplate',
  );
  scratch = mkdtempSync(join(tmpdir(), 'analysis-queries-'));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The metric's query with its args resolved the way the Rollout resolves them in dev. */
function query(templateName: string, service: string): string {
  const template = templates.find((t) => t.metadata?.name === templateName);
  if (!template) throw new Error(`gitops/envs/dev renders no AnalysisTemplate ${templateName}`);
  const values: Record<string, string> = { namespace: 'dev', service, 'canary-hash': CANARY };
  for (const arg of template.spec.args ?? []) if (arg.value !== undefined) values[arg.name] ??= arg.value;
  const text = template.spec.metrics?.[0]?.provider.prometheus?.query;
  if (text === undefined) throw new Error(`${templateName}'s first metric has no Prometheus query`);
  const { text: resolved, unresolved } = substituteArgs(text, (name) => values[name]);
  if (unresolved.length > 0) throw new Error(`${templateName} uses ${unresolved.join(', ')} with no value`);
  return resolved;
}

interface Series {
  name: string;
  labels: Record<string, string>;
  /** promtool expanding notation, one sample per 15 s, e.g. '0+12x20' = +12 every 15 s. */
  values: string;
}

function series(name: string, hash: string, labels: Record<string, string>, values: string): Series {
  return { name, labels: { namespace: 'dev', rollouts_pod_template_hash: hash, ...labels }, values };
}

/** A query's one sample, or 'empty': no result at all (what makes a measurement Inconclusive). */
type Expected = number | 'empty';

/** Runs promtool on one expectation; throws promtool's own diff when Prometheus disagrees. */
function expectQuery(expr: string, input: Series[], expected: Expected): void {
  const file = join(scratch, `case-${Math.random().toString(36).slice(2)}.yaml`);
  const inputSeries = input.map((s) => ({
    series: `${s.name}{${Object.entries(s.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}}`,
    values: s.values,
  }));
  writeFileSync(
    file,
    stringify({
      evaluation_interval: '15s',
      tests: [
        {
          interval: '15s',
          input_series: inputSeries,
          promql_expr_test: [
            {
              expr,
              eval_time: '3m',
              exp_samples: expected === 'empty' ? [] : [{ labels: '{}', value: expected }],
            },
          ],
        },
      ],
    }),
  );
  try {
    execFileSync('promtool', ['test', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    throw new Error(`promtool disagrees:\n${String((error as { stdout?: string }).stdout ?? error)}`, {
      cause: error,
    });
  }
}

/** One pod's http_requests_total counters by route and status code, e.g. { '/api/status': { 200: '0+24x20' } }. */
function apiRequests(hash: string, byRoute: Record<string, Record<string, string>>): Series[] {
  return Object.entries(byRoute).flatMap(([route, byStatus]) =>
    Object.entries(byStatus).map(([status, values]) =>
      series(
        'http_requests_total',
        hash,
        { service: 'api', method: 'GET', route, status_code: status },
        values,
      ),
    ),
  );
}

describe('http-error-rate', () => {
  test.each<[string, Series[], Expected]>([
    [
      'a healthy canary with no 5xx series yet measures 0, not an empty result',
      apiRequests(CANARY, { '/api/status': { 200: '0+30x20' } }),
      0,
    ],
    [
      'a canary answering 20% errors measures 0.2 however healthy and busy the stable pods are',
      [
        ...apiRequests(CANARY, { '/api/status': { 200: '0+24x20', 500: '0+6x20' } }),
        ...apiRequests(STABLE, { '/api/status': { 200: '0+600x20' } }),
      ],
      0.2,
    ],
    [
      'a canary that only sees probes and scrapes has no traffic: empty, so Inconclusive',
      [
        ...apiRequests(CANARY, {
          '/health': { 200: '0+2x20' },
          '/ready': { 503: '0+3x20' },
          '/metrics': { 200: '0+1x20' },
        }),
        ...apiRequests(STABLE, { '/api/status': { 200: '0+600x20' } }),
      ],
      'empty',
    ],
    [
      'a canary at 0.5 requests/s (30 a minute) is not judged: one error there would read 3.3%',
      apiRequests(CANARY, { '/api/status': { 200: '0+7x20', 500: '0+0.5x20' } }),
      'empty',
    ],
    [
      'a canary at 1.33 requests/s is judged',
      apiRequests(CANARY, { '/api/status': { 200: '0+15x20', 500: '0+5x20' } }),
      0.25,
    ],
    [
      'a trickle below min-request-rate is not judged, even if half of it failed',
      apiRequests(CANARY, { '/api/job': { 200: '0+0.5x20', 500: '0+0.5x20' } }),
      'empty',
    ],
  ])('%s', (_case, input, expected) => expectQuery(query('http-error-rate', 'api'), input, expected));
});

describe('http-latency-p99', () => {
  const labels = { service: 'api', method: 'GET', route: '/api/status', status_code: '200' };
  /** A canary's latency histogram: cumulative bucket counters by `le`, and the request count. */
  const histogram = (perBucket: Record<string, string>, count: string): Series[] => [
    ...Object.entries(perBucket).map(([le, values]) =>
      series('http_request_duration_seconds_bucket', CANARY, { ...labels, le }, values),
    ),
    series('http_request_duration_seconds_count', CANARY, labels, count),
  ];
  const p99 = () => query('http-latency-p99', 'api');
  const aboveThreshold = () => `(${p99()}) > bool 0.5`;

  test.each<[string, () => string, Series[], Expected]>([
    [
      'a canary whose every request takes 1-2.5 s has a p99 above the 0.5 s threshold',
      aboveThreshold,
      histogram({ '0.5': '0+0x20', '1': '0+0x20', '2.5': '0+30x20', '+Inf': '0+30x20' }, '0+30x20'),
      1,
    ],
    [
      'a fast canary is below it',
      aboveThreshold,
      histogram({ '0.05': '0+30x20', '0.5': '0+30x20', '+Inf': '0+30x20' }, '0+30x20'),
      0,
    ],
    [
      'a slow canary at 0.67 requests/s (10 every 15 s) is not judged: below min-request-rate',
      p99,
      histogram({ '0.5': '0+0x20', '1': '0+0x20', '2.5': '0+10x20', '+Inf': '0+10x20' }, '0+10x20'),
      'empty',
    ],
    [
      'no requests: empty, so Inconclusive, never a p99 of NaN that passes',
      p99,
      histogram({ '0.5': '0+0x20', '+Inf': '0+0x20' }, '0+0x20'),
      'empty',
    ],
  ])('%s', (_case, expr, input, expected) => expectQuery(expr(), input, expected));
});

describe('job-failure-ratio', () => {
  /** One pod's jobs_processed_total counters by outcome. */
  const attempts = (hash: string, byOutcome: Record<string, string>): Series[] =>
    Object.entries(byOutcome).map(([outcome, values]) =>
      series('jobs_processed_total', hash, { service: 'worker', job_type: 'report', outcome }, values),
    );

  test.each<[string, Series[], Expected]>([
    [
      'a worker canary whose every attempt fails measures 1',
      [
        ...attempts(CANARY, { retried: '0+8x20', failed: '0+2x20' }),
        ...attempts(STABLE, { completed: '0+50x20' }),
      ],
      1,
    ],
    [
      'a healthy worker canary with no failed attempt yet measures 0',
      attempts(CANARY, { completed: '0+9x20' }),
      0,
    ],
    [
      'a canary below min-attempt-rate (0.3 attempts/s, 18 in the window) is empty, so Inconclusive',
      attempts(CANARY, { completed: '0+4x20', failed: '0+1x20' }),
      'empty',
    ],
    [
      'an idle worker canary (no jobs) is empty, so Inconclusive',
      attempts(STABLE, { completed: '0+50x20' }),
      'empty',
    ],
  ])('%s', (_case, input, expected) => expectQuery(query('job-failure-ratio', 'worker'), input, expected));
});
