// The dashboards the issue asks for, each well-formed for Grafana and wired to the datasource uid both the
// cluster (kube-prometheus-stack) and the compose stack provision. Their queries are checked against the
// running services in observability/service-signals.spec.ts.
import path from 'node:path';
import { allRules } from '../test/support/prometheus-rules';
import { loadDashboards } from '../test/support/queries';

const dashboards = loadDashboards();

describe('Grafana dashboards', () => {
  it('are the five the platform needs, with unique uids and titles', () => {
    expect(dashboards.map((d) => d.dashboard.uid).sort()).toEqual([
      'opsforge-canary',
      'opsforge-red',
      'opsforge-redis',
      'opsforge-slo',
      'opsforge-worker',
    ]);
    for (const { file, dashboard } of dashboards) expect(path.basename(file)).toBe(`${dashboard.uid}.json`);
    const titles = dashboards.map((d) => d.dashboard.title);
    expect(new Set(titles).size).toBe(titles.length);
  });

  it.each(dashboards.map((d) => [d.dashboard.uid, d.dashboard] as const))(
    '%s: every panel queries the Prometheus datasource and fits the 24-column grid',
    (_uid, dashboard) => {
      const panels = dashboard.panels.filter((p) => p.type !== 'row');
      expect(panels.length).toBeGreaterThanOrEqual(4);
      for (const panel of panels) {
        expect(panel.datasource?.uid).toBe('prometheus');
        expect(panel.targets?.length).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) expect(target.expr.trim()).not.toBe('');
        expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
      }
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
    },
  );

  it('the canary dashboard compares stable and canary by pod template hash', () => {
    const canary = dashboards.find((d) => d.dashboard.uid === 'opsforge-canary')!.dashboard;
    const comparisons = canary.panels.filter((p) => p.type === 'timeseries');
    expect(comparisons.length).toBeGreaterThanOrEqual(4);
    for (const panel of comparisons) {
      for (const target of panel.targets ?? [])
        expect(target.expr).toContain('by (rollouts_pod_template_hash');
    }
  });

  it("the SLO dashboard shows every SLO's error budget left, recorded by the rules", () => {
    const slo = dashboards.find((d) => d.dashboard.uid === 'opsforge-slo')!.dashboard;
    const exprs = slo.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    const budgets = allRules().flatMap((r) =>
      r.record?.endsWith(':error_budget_remaining') ? [r.record] : [],
    );
    expect(budgets).toHaveLength(3);
    for (const record of budgets) expect(exprs).toContain(record);
  });
});
