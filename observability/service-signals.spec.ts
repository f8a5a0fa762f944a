// No panel or alert that can never show data: every PromQL expression in the rules, the dashboards and the
// AnalysisTemplates (as the dev overlay renders them) parses with Prometheus' own grammar, and every metric it
// names is exported by the running services, recorded by our rules, or comes from a platform component listed
// in platform-metrics.yaml. The log side: the fields the Alloy pipeline and the Grafana derived fields read are
// what the services really log, and one request id finds the request in both services' logs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { parse } from 'yaml';
import {
  type LogLine,
  type PrometheusServer,
  type RunningService,
  startService,
  testQueue,
  waitFor,
} from '@opsforge/harness';
import { loadLedger } from '../tools/verify-gitops/upstream';
import { allRules } from './test/support/prometheus-rules';
import { startPrometheus } from './test/support/prometheus-server';
import { parsePromQL } from './test/support/promql';
import {
  analysisTemplateQueries,
  dashboardQueries,
  type NamedQuery,
  platformMetrics,
  ruleQueries,
} from './test/support/queries';

// Labels Prometheus or the ServiceMonitors attach to every scraped series (docs/architecture.md), and `le`,
// which histogram buckets carry.
const TARGET_LABELS = ['namespace', 'pod', 'service', 'job', 'instance', 'rollouts_pod_template_hash', 'le'];

let queries: NamedQuery[];

beforeAll(async () => {
  queries = [...ruleQueries(), ...dashboardQueries(), ...(await analysisTemplateQueries())];
});

describe('every PromQL expression', () => {
  it('covers the rules, the dashboards and the three AnalysisTemplates', () => {
    const sources = new Set(queries.map((q) => q.where.split(':')[0].replace(/ .*/, '')));
    expect(queries.filter((q) => q.where.startsWith('AnalysisTemplate')).length).toBeGreaterThanOrEqual(3);
    expect(sources.has('slos.yaml')).toBe(true);
    expect(sources.has('opsforge-red.json')).toBe(true);
  });

  it('parses with the Prometheus grammar', () => {
    const broken = queries
      .map((q) => ({ where: q.where, errors: parsePromQL(q.expr).errors }))
      .filter((q) => q.errors.length > 0);
    expect(broken).toEqual([]);
  });

  it('the parser check rejects what Prometheus would reject', () => {
    expect(parsePromQL('sum(rate(x[5m])').errors).not.toEqual([]);
    expect(parsePromQL('label_replace(x, "a", "$1", "b", "(.+)"){a="c"}').errors).not.toEqual([]);
    expect(parsePromQL('sum by (a) (rate({__name__="x_total"}[5m])) / y').metrics).toEqual(['x_total', 'y']);
  });
});

// Labels whose values are our own names (environments, workloads, containers, volumes) or a dashboard variable:
// the manifests and the services' own contract tests pin those. Every other label a query matches on a platform
// metric carries a value the upstream component defines, recorded in the upstream ledger.
const OWN_VALUE_LABELS = new Set([
  'job',
  'namespace',
  'exported_namespace',
  'container',
  'name',
  'service',
  'statefulset',
  'persistentvolumeclaim',
  'pod',
]);

interface LabelValuesFact {
  metric: string;
  label: string;
  values?: string[];
  passThrough?: boolean;
}

function labelValuesFacts(): LabelValuesFact[] {
  return Object.values(loadLedger().behaviours).flatMap((fact) => {
    const data = fact.data as Partial<LabelValuesFact> | undefined;
    return data?.metric && data.label ? [data as LabelValuesFact] : [];
  });
}

/** Every matcher on a platform metric whose value the upstream component never emits, or that no fact covers. */
function labelValueProblems(
  where: string,
  expr: string,
  facts: LabelValuesFact[],
  platform: Map<string, string>,
): string[] {
  return parsePromQL(expr).matchers.flatMap(({ metric, label, op, value }) => {
    // ALERTS carries our own alerts' labels; promtool evaluates the rules that read it.
    if (!platform.has(metric) || metric === 'ALERTS' || OWN_VALUE_LABELS.has(label)) return [];
    const at = `${where}: ${metric}{${label}${op}"${value}"}`;
    const fact = facts.find((f) => f.metric === metric && f.label === label);
    if (!fact) return [`${at}: no upstream ledger fact lists the values of ${metric}'s ${label}`];
    if (fact.passThrough || (op === '!=' && value === '')) return [];
    const known = fact.values ?? [];
    const alternatives = op.includes('~') && !/^[\w|]+$/.test(value) ? undefined : value.split('|');
    if (alternatives) {
      const missing = alternatives.filter((a) => !known.includes(a));
      return missing.length ? [`${at}: ${missing.join(', ')} is not one of ${known.join(', ')}`] : [];
    }
    const regex = new RegExp(`^(?:${value})$`);
    return known.some((v) => regex.test(v)) ? [] : [`${at}: matches none of ${known.join(', ')}`];
  });
}

describe('label values of platform metrics', () => {
  it('every value a query matches is one the upstream component emits (the upstream ledger)', () => {
    const facts = labelValuesFacts();
    const platform = platformMetrics();
    expect(queries.flatMap((q) => labelValueProblems(q.where, q.expr, facts, platform))).toEqual([]);
  });

  it('the check fails on a phase rollout_info never emits, an unknown health, and a label no fact covers', () => {
    const facts = labelValuesFacts();
    const platform = platformMetrics();
    expect(
      labelValueProblems('rule', 'rollout_info{name="api", phase="Degraded"} == 1', facts, platform),
    ).toEqual([
      'rule: rollout_info{phase="Degraded"}: Degraded is not one of Progressing, Completed, Paused, Timeout, Error, Abort, InvalidSpec',
    ]);
    expect(
      labelValueProblems('rule', 'argocd_app_info{health_status=~"Degraded|Broken"}', facts, platform),
    ).toEqual([
      'rule: argocd_app_info{health_status=~"Degraded|Broken"}: Broken is not one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown',
    ]);
    expect(labelValueProblems('rule', 'kube_pod_status_phase{phase=~"Err.*"}', facts, platform)).toEqual([
      'rule: kube_pod_status_phase{phase=~"Err.*"}: matches none of Pending, Succeeded, Failed, Unknown, Running',
    ]);
    expect(labelValueProblems('rule', 'kube_pod_info{host_network="true"}', facts, platform)).toEqual([
      'rule: kube_pod_info{host_network="true"}: no upstream ledger fact lists the values of kube_pod_info\'s host_network',
    ]);
    expect(labelValueProblems('rule', 'rollout_info{phase=~"Abort|Timeout"}', facts, platform)).toEqual([]);
  });
});

describe('against the running api and worker', () => {
  const { redisUrl, prefix, env: queueEnv, deleteKeys } = testQueue('observability');
  const requestId = `obs-${process.pid}-${Date.now()}`;
  let api: RunningService;
  let worker: RunningService;
  let exported: Map<string, Set<string>>;
  let jobId: string;
  let prometheus: PrometheusServer;
  const namespace = 'signals';

  /** Names a scrape exposes (a histogram's _bucket/_sum/_count) and the label names seen on its samples. */
  function exposition(text: string, into: Map<string, Set<string>>): void {
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) {
        const [, name, kind] = type;
        const names =
          kind === 'histogram'
            ? ['_bucket', '_sum', '_count'].map((s) => name + s)
            : kind === 'summary'
              ? [name, `${name}_sum`, `${name}_count`]
              : [name];
        for (const n of names) if (!into.has(n)) into.set(n, new Set());
        continue;
      }
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line);
      if (sample) {
        for (const label of sample[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g))
          into.get(sample[1])?.add(label[1]);
      }
    }
  }

  beforeAll(async () => {
    const env = { ...queueEnv, APP_VERSION: 'obs-test' };
    [api, worker] = await Promise.all([startService('api', { env }), startService('worker', { env })]);
    prometheus = await startPrometheus(
      [api, worker].map((service) => ({
        address: new URL(service.url).host,
        labels: { namespace, service: service.name, pod: `${service.name}-0` },
      })),
    );
    // Traffic that gives every series its labels: a job created and processed, a read, an unmatched route.
    const created = await fetch(`${api.url}/api/job`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ type: 'ping', payload: { note: 'observability contract' } }),
    });
    expect(created.status).toBe(202);
    jobId = ((await created.json()) as { id: string }).id;
    await worker.waitForLog((line) => line.jobId === jobId && /complet/i.test(String(line.msg)), 15_000);
    await fetch(`${api.url}/api/job/${jobId}`);
    await fetch(`${api.url}/no-such-route`);
    // A job that fails for good, for the failure lines and series: a payload the API would have refused, put
    // on the queue directly.
    const queue = new Queue('jobs', { connection: { url: redisUrl }, prefix });
    try {
      const bad = await queue.add('ping', { payload: { holdMs: -1 }, requestId: `${requestId}-bad` });
      await worker.waitForLog((line) => line.jobId === bad.id && line.level === 'error', 15_000);
    } finally {
      await queue.close();
    }
    exported = new Map();
    for (const service of [api, worker])
      exposition(await (await fetch(`${service.url}/metrics`)).text(), exported);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all([api?.stop(), worker?.stop()]);
    await deleteKeys();
  });

  it('every metric a query names is exported, recorded by our rules, or a declared platform metric', () => {
    const recorded = new Set(allRules().flatMap((rule) => (rule.record ? [rule.record] : [])));
    const platform = platformMetrics();
    const unknown = queries.flatMap((q) =>
      parsePromQL(q.expr)
        .metrics.filter((name) => !exported.has(name) && !recorded.has(name) && !platform.has(name))
        .map((name) => `${q.where}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every declared platform metric is used, and none is one the services export', () => {
    const used = new Set(queries.flatMap((q) => parsePromQL(q.expr).metrics));
    const platform = [...platformMetrics().keys()];
    expect(platform.filter((name) => !used.has(name))).toEqual([]);
    expect(platform.filter((name) => exported.has(name))).toEqual([]);
  });

  // Prometheus' own parser type-checks what the lezer grammar only parses (a range vector where an instant one
  // is needed, a function's argument count), and its engine rejects some matchings at evaluation time.
  it('a real Prometheus scraping the services evaluates every query without error', async () => {
    const failed: string[] = [];
    for (const q of queries) {
      const expr = q.expr
        .replace(/\$namespace|\$\{namespace\}/g, namespace)
        .replace(/\$service|\$\{service\}/g, 'api');
      const result = await prometheus.query(expr);
      if (result.status !== 'success') failed.push(`${q.where}: ${result.error}`);
    }
    expect(failed).toEqual([]);
  });

  it("the rules' recorded SLIs and the Watchdog have data from the services' real series", async () => {
    // Rules evaluate every second; give them a few rounds over the scraped traffic.
    const recorded = [
      `slo:api_requests:rate5m{namespace="${namespace}"}`,
      `slo:api_availability:error_budget_remaining{namespace="${namespace}"}`,
      `slo:api_latency:error_budget_remaining{namespace="${namespace}"}`,
      `slo:worker_job:error_budget_remaining{namespace="${namespace}"}`,
      'ALERTS{alertname="Watchdog", alertstate="firing"}',
    ];
    const empty = async () => {
      const missing: string[] = [];
      for (const expr of recorded)
        if (((await prometheus.query(expr)).data?.result ?? []).length === 0) missing.push(expr);
      return missing;
    };
    let missing: string[] = [];
    await waitFor('recorded series', async () => (missing = await empty()).length === 0, 20_000).catch(
      () => undefined,
    );
    expect(missing).toEqual([]);
  });

  it('exports the metrics of the architecture contract', () => {
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'jobs_enqueued_total',
      'jobs_processed_total',
      'job_duration_seconds_bucket',
      'queue_jobs',
      'queue_oldest_waiting_job_age_seconds',
      'worker_concurrency',
      'app_info',
    ]) {
      expect([name, exported.has(name)]).toEqual([name, true]);
    }
    // The label names the queries rely on, as the samples of this run carry them.
    expect(exported.get('http_requests_total')).toEqual(
      new Set(['method', 'route', 'status_code', 'traffic']),
    );
    expect(exported.get('jobs_enqueued_total')).toEqual(new Set(['job_type', 'outcome']));
    expect(exported.get('jobs_processed_total')).toEqual(new Set(['job_type', 'outcome']));
    expect(exported.get('queue_jobs')).toEqual(new Set(['queue', 'state']));
  });

  it('every label a query matches on a service metric is a label that metric carries', () => {
    const wrong: string[] = [];
    for (const q of queries) {
      for (const match of q.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
        const labels = exported.get(match[1]);
        if (!labels || labels.size === 0) continue;
        for (const matcher of match[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
          const label = matcher[1];
          if (!labels.has(label) && !TARGET_LABELS.includes(label))
            wrong.push(`${q.where}: ${match[1]}{${label}}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  describe('logs', () => {
    const datasource = parse(
      readFileSync(path.join(__dirname, 'grafana', 'datasources', 'loki.yaml'), 'utf8'),
    ) as {
      datasources: Array<{ jsonData: { derivedFields: Array<{ name: string; matcherRegex: string }> } }>;
    };
    const derived = new Map(
      datasource.datasources[0].jsonData.derivedFields.map((f) => [f.name, new RegExp(f.matcherRegex)]),
    );
    const pipeline = readFileSync(path.join(__dirname, 'loki', 'opsforge-logs.alloy'), 'utf8');

    const LOGQL_STAGES = ['line_format', 'label_format', 'keep', 'drop', 'unwrap', 'decolorize'];
    const linesOf = (predicate: (line: LogLine) => boolean) =>
      [...api.logs, ...worker.logs].filter(predicate);

    it('one request id finds the request in the api log and the job in the worker log', () => {
      const lines = linesOf((line) => line.requestId === requestId);
      expect(new Set(lines.map((line) => line.app))).toEqual(new Set(['api', 'worker']));
      expect(lines.some((line) => line.app === 'worker' && line.jobId === jobId)).toBe(true);
    });

    it('every line carries the low-cardinality label fields the pipeline reads: level and app', () => {
      const lines = [...api.logs, ...worker.logs];
      expect(lines.length).toBeGreaterThan(3);
      expect(new Set(lines.map((line) => line.app))).toEqual(new Set(['api', 'worker']));
      for (const line of lines)
        expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(line.level);
      for (const field of ['level', 'app', 'requestId', 'jobId']) expect(pipeline).toContain(`= "${field}"`);
    });

    it('the fields the LogQL examples of docs/observability.md read are in the lines the services write', () => {
      // Loki's `| json` flattens nested objects with `_`: {"req":{"method":"GET"}} becomes req_method.
      const flatten = (value: unknown, prefix = ''): string[] =>
        value && typeof value === 'object' && !Array.isArray(value)
          ? Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}_${key}` : key))
          : [prefix];
      const fields = new Set([...api.logs, ...worker.logs].flatMap((line) => flatten(line)));
      const docs = readFileSync(path.join(__dirname, '..', 'docs', 'observability.md'), 'utf8');
      const logql = [...docs.matchAll(/```logql\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
      const used = new Set([
        ...[...logql.matchAll(/\{\{\.(\w+)\}\}/g)].map((m) => m[1]),
        ...[...logql.matchAll(/\| json \| (\w+)/g)].map((m) => m[1]).filter((f) => !LOGQL_STAGES.includes(f)),
        ...[...logql.matchAll(/sum by \((\w+)\)/g)]
          .map((m) => m[1])
          .filter((f) => !['app', 'level'].includes(f)),
      ]);
      expect(used.size).toBeGreaterThan(5);
      expect([...used].filter((field) => !fields.has(field))).toEqual([]);
    });

    it("the datasource's derived fields capture exactly the request id and job id from a real line", () => {
      // pino writes JSON.stringify's compact form, which is what Loki stores and the regexes see.
      const [apiLine] = linesOf((line) => line.app === 'api' && line.requestId === requestId);
      const [workerLine] = linesOf((line) => line.app === 'worker' && line.jobId === jobId);
      expect(derived.get('requestId')?.exec(JSON.stringify(apiLine))?.[1]).toBe(requestId);
      expect(derived.get('requestId')?.exec(JSON.stringify(workerLine))?.[1]).toBe(requestId);
      expect(derived.get('jobId')?.exec(JSON.stringify(workerLine))?.[1]).toBe(jobId);
    });
  });
});
