// The compose `observability` profile runs the repository's own rules, routing, dashboards and log pipeline,
// mounted from where the cluster takes them, not copies. (The root compose.yaml's tests validate this file
// against the Compose Specification and check image pinning and profiles.)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { extractRuleFiles } from './test/support/prometheus-rules';
import { run } from './test/support/repo';

interface Service {
  image: string;
  volumes?: string[];
  command?: string[];
  networks?: { default?: { aliases?: string[] } };
}
const compose = parse(readFileSync(path.join(__dirname, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** Bind mounts of a service as [source relative to observability/, target]. */
function binds(name: string): Array<[string, string]> {
  return (services[name].volumes ?? [])
    .filter((volume) => volume.startsWith('./') || volume.startsWith('/'))
    .map((volume) => volume.split(':') as [string, string])
    .filter(([source]) => source.startsWith('./'))
    .map(([source, target]) => [path.normalize(source), target]);
}

describe('observability/compose.yaml', () => {
  it('mounts the files the cluster uses, and every mounted file exists', () => {
    const sources = Object.keys(services).flatMap((name) => binds(name).map(([source]) => source));
    for (const source of sources)
      expect([source, existsSync(path.join(__dirname, source))]).toEqual([source, true]);
    expect(binds('observability-init')).toContainEqual(['prometheus/rules', '/src/rules']);
    expect(sources).toEqual(
      expect.arrayContaining([
        'prometheus/rules',
        'alertmanager/alertmanager.yaml',
        'grafana/dashboards',
        'grafana/datasources/loki.yaml',
        'loki/opsforge-logs.alloy',
      ]),
    );
  });

  it('extracts spec.groups from the PrometheusRule files before Prometheus starts', () => {
    const init = services['observability-init'];
    expect(init.command?.join('\n')).toContain(`yq '{"groups": .spec.groups}'`);
    expect((services.prometheus as unknown as { depends_on: unknown }).depends_on).toEqual({
      'observability-init': { condition: 'service_completed_successfully' },
    });
  });

  it('gives Prometheus a configuration promtool accepts, with the extracted rules', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'opsforge-compose-prometheus-'));
    try {
      extractRuleFiles(dir);
      const config = readFileSync(path.join(__dirname, 'prometheus', 'compose', 'prometheus.yaml'), 'utf8');
      expect(config).toContain('/etc/prometheus/rules/*.yaml');
      writeFileSync(
        path.join(dir, 'prometheus.yaml'),
        config.replace('/etc/prometheus/rules/', `${dir}/rules/`),
      );
      const result = await run('promtool', ['check', 'config', path.join(dir, 'prometheus.yaml')]);
      const ruleFiles = readdirSync(path.join(__dirname, 'prometheus', 'rules')).filter((f) =>
        f.endsWith('.yaml'),
      );
      expect(result.stdout + result.stderr).toContain(`SUCCESS: ${ruleFiles.length} rule files found`);
      expect(result.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mounts the receiver secrets where alertmanager.yaml reads them', () => {
    const config = readFileSync(path.join(__dirname, 'alertmanager', 'alertmanager.yaml'), 'utf8');
    const secretDirs = new Set([...config.matchAll(/_file: (\S+)\/[a-z-]+\n/g)].map((m) => m[1]));
    expect([...secretDirs]).toEqual(['/etc/alertmanager/secrets/alertmanager-receivers']);
    expect(services.alertmanager.volumes).toContain(
      'alertmanager-secrets:/etc/alertmanager/secrets/alertmanager-receivers:ro',
    );
  });

  it("serves Loki under the cluster's URL, so the datasource and the Alloy pipeline need no compose variant", () => {
    const datasource = readFileSync(path.join(__dirname, 'grafana', 'datasources', 'loki.yaml'), 'utf8');
    const url = new URL(/url: (http:\/\/\S+)/.exec(datasource)![1]);
    expect(services.loki.networks?.default?.aliases).toEqual([url.hostname]);
    expect(readFileSync(path.join(__dirname, 'loki', 'loki-compose.yaml'), 'utf8')).toContain(
      `http_listen_port: ${url.port || 80}`,
    );
    for (const file of ['compose.alloy', 'kubernetes.alloy']) {
      expect(readFileSync(path.join(__dirname, 'loki', file), 'utf8')).toContain(
        `url = "${url.origin}/loki/api/v1/push"`,
      );
    }
  });
});
