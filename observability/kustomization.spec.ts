// observability/kustomization.yaml is what Argo CD deploys (argocd/platform/observability.yaml). Rendered by
// real kustomize and validated against the Kubernetes and prometheus-operator schemas; the generated objects
// carry the files byte for byte and the labels kube-prometheus-stack's Prometheus and Grafana sidecar select.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kustomizeYaml } from '../tools/lib/kustomize';
import { listFiles, repoPath } from './test/support/repo';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

let rendered: string;
let objects: K8sObject[];

beforeAll(() => {
  const result = kustomizeYaml(__dirname);
  expect(result.warnings).toBe('');
  rendered = result.yaml;
  objects = parseAllDocuments(rendered).map((doc) => doc.toJS() as K8sObject);
});

const named = (kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('observability/kustomization.yaml', () => {
  it('renders every object valid against its schema', () => {
    const tsx = repoPath('node_modules', '.bin', 'tsx');
    const result = spawnSync(tsx, [path.join(__dirname, 'test', 'support', 'validate-objects.ts')], {
      input: rendered,
      encoding: 'utf8',
      cwd: repoPath(),
    });
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout) as { validated: number; problems: string[] };
    expect(report.problems).toEqual([]);
    expect(report.validated).toBe(objects.length);
  });

  it('ships every PrometheusRule file, selected by the release label', () => {
    const rules = objects.filter((o) => o.kind === 'PrometheusRule');
    expect(rules).toHaveLength(listFiles(path.join(__dirname, 'prometheus', 'rules'), ['.yaml']).length);
    for (const rule of rules) expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
  });

  it('ships every dashboard as its own sidecar ConfigMap, byte for byte', () => {
    const files = listFiles(path.join(__dirname, 'grafana', 'dashboards'), ['.json']);
    expect(files.length).toBe(5);
    for (const file of files) {
      const configMap = named('ConfigMap', `grafana-dashboard-${path.basename(file, '.json')}`);
      expect(configMap?.metadata.labels?.grafana_dashboard).toBe('1');
      expect(configMap?.data?.[path.basename(file)]).toBe(readFileSync(file, 'utf8'));
    }
  });

  it('ships the Loki datasource to the Grafana sidecar', () => {
    const configMap = named('ConfigMap', 'grafana-datasource-loki');
    expect(configMap?.metadata.labels?.grafana_datasource).toBe('1');
    expect(configMap?.data?.['loki.yaml']).toBe(
      readFileSync(path.join(__dirname, 'grafana', 'datasources', 'loki.yaml'), 'utf8'),
    );
  });

  it('ships alertmanager.yaml unchanged in the Secret the operator loads', () => {
    const secret = named('Secret', 'alertmanager-opsforge');
    const decoded = Buffer.from(secret?.data?.['alertmanager.yaml'] ?? '', 'base64').toString('utf8');
    expect(decoded).toBe(readFileSync(path.join(__dirname, 'alertmanager', 'alertmanager.yaml'), 'utf8'));
  });

  it('ships the Alloy pipeline and its module to the logging namespace, where the chart mounts them', () => {
    const configMap = named('ConfigMap', 'alloy-opsforge');
    expect(configMap?.metadata.namespace).toBe('logging');
    expect(Object.keys(configMap?.data ?? {}).sort()).toEqual(['kubernetes.alloy', 'opsforge-logs.alloy']);
    // The file the chart runs imports the module from where the chart mounts the ConfigMap.
    expect(configMap?.data?.['kubernetes.alloy']).toContain('filename = "/etc/alloy/opsforge-logs.alloy"');
    const values = readFileSync(path.join(__dirname, 'loki', 'alloy-values.yaml'), 'utf8');
    expect(values).toMatch(/name: alloy-opsforge\n\s+key: kubernetes\.alloy/);
  });
});
