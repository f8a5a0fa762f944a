// The alert rules as Argo CD deploys them (PrometheusRule objects), checked and unit-tested by the real
// promtool after their spec.groups are extracted: one source of truth, no hand-kept copy of the rules.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  allRules,
  extractRuleFiles,
  loadPrometheusRuleFiles,
  ruleTestsDir,
  type PrometheusRuleFile,
  type RuleGroup,
} from '../test/support/prometheus-rules';
import { listFiles, readYamlDocuments, repoPath, run } from '../test/support/repo';

const TEAMS = ['api', 'worker', 'sre'];
const SEVERITIES = ['critical', 'warning'];
const RUNBOOK_BASE = 'https://github.com/opsforge/opsforge/blob/main/';

let workDir: string;
let ruleFiles: PrometheusRuleFile[];
let extracted: string[];

beforeAll(() => {
  ruleFiles = loadPrometheusRuleFiles();
  workDir = mkdtempSync(path.join(tmpdir(), 'opsforge-rules-'));
  extracted = extractRuleFiles(workDir, ruleFiles);
  cpSync(ruleTestsDir, path.join(workDir, 'tests'), { recursive: true });
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const alerts = allRules().filter((rule) => rule.alert !== undefined);

describe('PrometheusRule objects', () => {
  // Schema validation of the objects is in observability/kustomization.spec.ts, over the rendered tree.
  it('are selected by the kube-prometheus-stack release', () => {
    for (const { file, manifest } of ruleFiles) {
      const labels = (manifest.metadata as { labels?: Record<string, string> }).labels ?? {};
      expect({ file: path.basename(file), release: labels.release }).toEqual({
        file: path.basename(file),
        release: 'kube-prometheus-stack',
      });
    }
  });

  it('pass promtool check rules', async () => {
    const result = await run('promtool', ['check', 'rules', ...extracted]);
    expect(result.stdout + result.stderr).not.toMatch(/FAILED/);
    expect(result.code).toBe(0);
  });

  it('have unique group names and one rule per (alert, severity)', () => {
    const groups = ruleFiles.flatMap((f) => f.groups.map((g) => g.name));
    expect(new Set(groups).size).toBe(groups.length);
    const keys = alerts.map((a) => `${a.alert}/${a.labels?.severity}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it('name recorded series level:metric:operations', () => {
    for (const rule of allRules().filter((r) => r.record)) {
      expect(rule.record).toMatch(/^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/);
    }
  });
});

/** Seconds in a Prometheus duration (`2m30s`, `30d`). */
function seconds(duration: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  const parts = [...duration.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== duration)
    throw new Error(`not a Prometheus duration: ${duration}`);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit], 0);
}

/** The longest range a rule's expression reads, in seconds. */
function longestRange(expr: string): number {
  return Math.max(0, ...[...expr.matchAll(/\[([0-9a-z]+)(?::[0-9a-z]*)?\]/g)].map((m) => seconds(m[1])));
}

const WEEK = 7 * 86400;

/** A rule that reads a week or more belongs in a group evaluated every few minutes, not every scrape. */
function slowRuleProblems(groups: RuleGroup[]): string[] {
  return groups.flatMap((group) =>
    group.rules
      .filter((rule) => longestRange(rule.expr) >= WEEK)
      .filter(() => group.interval === undefined || seconds(group.interval) < 120)
      .map(
        (rule) =>
          `${group.name}: ${rule.record ?? rule.alert} reads ${longestRange(rule.expr) / 86400}d every ${group.interval ?? 'evaluation (15s)'}`,
      ),
  );
}

interface PrometheusSpec {
  retention?: string;
  retentionSize?: string;
  storageSpec?: { volumeClaimTemplate?: { spec?: { resources?: { requests?: { storage?: string } } } } };
}

function bytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)(B|KB|MB|GB|TB|Ki|Mi|Gi|Ti)$/.exec(size);
  if (!match) throw new Error(`not a size: ${size}`);
  const unit: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(match[1]) * unit[match[2]];
}

/** What keeps Prometheus from holding the data the rules read, across restarts. */
function storageProblems(spec: PrometheusSpec, longest: number): string[] {
  const problems: string[] = [];
  if (!spec.retention || seconds(spec.retention) < longest)
    problems.push(
      `retention ${spec.retention ?? 'unset (chart default 10d)'} is shorter than the ${longest / 86400}d the rules read`,
    );
  const storage = spec.storageSpec?.volumeClaimTemplate?.spec?.resources?.requests?.storage;
  if (!storage)
    problems.push('no storageSpec volumeClaimTemplate: an emptyDir loses every budget on a restart');
  else if (!spec.retentionSize || bytes(spec.retentionSize) >= bytes(storage))
    problems.push(`retentionSize ${spec.retentionSize ?? 'unset'} does not stop below the ${storage} volume`);
  return problems;
}

describe('the 30-day SLO windows', () => {
  const application = readYamlDocuments(repoPath('argocd/platform/kube-prometheus-stack.yaml'))[0] as {
    spec: { source: { helm: { valuesObject: { prometheus: { prometheusSpec: PrometheusSpec } } } } };
  };
  const prometheusSpec = application.spec.source.helm.valuesObject.prometheus.prometheusSpec;
  const longest = Math.max(...allRules().map((rule) => longestRange(rule.expr)));

  it('are read by rules in a group evaluated every few minutes, not every 15 s', () => {
    expect(longest).toBe(30 * 86400);
    expect(slowRuleProblems(ruleFiles.flatMap((f) => f.groups))).toEqual([]);
    const broken: RuleGroup = {
      name: 'opsforge.slo.api-availability',
      rules: [{ record: 'slo:x:ratio_rate30d', expr: 'sum_over_time(slo:x:rate5m[30d])' }],
    };
    expect(slowRuleProblems([broken])).toEqual([
      'opsforge.slo.api-availability: slo:x:ratio_rate30d reads 30d every evaluation (15s)',
    ]);
  });

  it('fit in what Prometheus keeps, on a volume (kube-prometheus-stack values)', () => {
    expect(storageProblems(prometheusSpec, longest)).toEqual([]);
    // The broken example: the values as they were, 15 days on the chart's emptyDir.
    expect(storageProblems({ retention: '15d' }, longest)).toEqual([
      'retention 15d is shorter than the 30d the rules read',
      'no storageSpec volumeClaimTemplate: an emptyDir loses every budget on a restart',
    ]);
  });
});

describe.each(alerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))(
  'alert %s',
  (_name, alert) => {
    it('has a severity, an owning team, a summary, a description and a runbook', () => {
      const labels = alert.labels ?? {};
      if (alert.alert === 'Watchdog') {
        expect(labels.severity).toBe('none');
      } else {
        expect(SEVERITIES).toContain(labels.severity);
      }
      // A templated team must come from a label the expression pins to a team's workloads.
      const templated = /^\{\{ \$labels\.([a-z_]+) \}\}$/.exec(labels.team ?? '');
      if (templated) {
        expect(alert.expr).toMatch(new RegExp(`\\b${templated[1]}=~"(api\\|worker|worker\\|api)"`));
      } else {
        expect(TEAMS).toContain(labels.team);
      }
      expect(alert.annotations?.summary?.trim()).toBeTruthy();
      expect(alert.annotations?.description?.trim()).toBeTruthy();
    });

    it('links a runbook in docs/runbooks/ that exists and names the alert', () => {
      const url = alert.annotations?.runbook_url ?? '';
      expect(url.startsWith(`${RUNBOOK_BASE}docs/runbooks/`)).toBe(true);
      const file = repoPath(url.slice(RUNBOOK_BASE.length));
      expect(existsSync(file)).toBe(true);
      expect(path.basename(file)).toBe(`${alert.alert}.md`);
      // What an on-call engineer opens the page for: what it means, how to triage, how to fix.
      const runbook = readFileSync(file, 'utf8');
      expect(runbook.split('\n')[0]).toMatch(new RegExp(`^# ${alert.alert}: `));
      for (const section of ['## Meaning', '## Impact', '## Triage', '## Fix'])
        expect(runbook).toContain(section);
    });
  },
);

interface AlertRuleTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: Array<{ exp_labels?: Record<string, string> }>;
}
interface PromtoolTestFile {
  rule_files: string[];
  evaluation_interval?: string;
  tests: Array<{ name?: string; alert_rule_test?: AlertRuleTest[] }>;
}

function minutes(duration: string): number {
  const match = /^(\d+)(m|h)$/.exec(duration);
  if (!match) throw new Error(`unexpected duration ${duration}`);
  return Number(match[1]) * (match[2] === 'h' ? 60 : 1);
}

const testFiles = listFiles(ruleTestsDir, ['.test.yaml']);

describe('promtool unit tests', () => {
  // The window tests replay up to a day and a half of history: on a loaded 2-core machine promtool needs
  // more than jest's default minute for one file.
  it.each(testFiles.map((f) => [path.basename(f)]))(
    '%s passes promtool test rules',
    async (name) => {
      const result = await run('promtool', ['test', 'rules', path.join(workDir, 'tests', name)]);
      expect(result.stdout + result.stderr).toContain('SUCCESS');
      expect(result.code).toBe(0);
    },
    180_000,
  );

  it('test only the PrometheusRule files of this repository', () => {
    for (const file of testFiles) {
      const test = readYamlDocuments(file)[0] as PromtoolTestFile;
      for (const ruleFile of test.rule_files) {
        expect(existsSync(path.resolve(path.dirname(file), ruleFile))).toBe(true);
      }
    }
  });

  // For every alert: a firing case, and the same alert checked one evaluation earlier without it, so the
  // `for:` duration is pinned from both sides. Without `for:` (the Watchdog) firing is enough.
  it.each(alerts.map((a) => [`${a.alert} (${a.labels?.severity})`, a] as const))(
    '%s fires in a test and is quiet one evaluation before',
    (_name, alert) => {
      const severity = alert.labels?.severity;
      const firesIn = (check: AlertRuleTest) =>
        (check.exp_alerts ?? []).some((e) => e.exp_labels?.severity === severity);
      let pinned = false;
      for (const file of testFiles) {
        const test = readYamlDocuments(file)[0] as PromtoolTestFile;
        const interval = minutes(test.evaluation_interval ?? '1m');
        for (const group of test.tests) {
          const checks = (group.alert_rule_test ?? []).filter((c) => c.alertname === alert.alert);
          for (const firing of checks.filter(firesIn)) {
            const before = checks.find(
              (c) => minutes(c.eval_time) === minutes(firing.eval_time) - interval && !firesIn(c),
            );
            if (before || alert.for === undefined) pinned = true;
          }
        }
      }
      expect(pinned).toBe(true);
    },
  );
});
