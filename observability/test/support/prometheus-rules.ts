import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { listFiles, observabilityDir, readYamlDocuments, repoRoot } from './repo';

export const rulesDir = path.join(observabilityDir, 'prometheus', 'rules');
export const ruleTestsDir = path.join(observabilityDir, 'prometheus', 'tests');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export interface PrometheusRuleFile {
  /** Absolute path of the PrometheusRule manifest. */
  file: string;
  /** The manifest as parsed, for schema validation. */
  manifest: Record<string, unknown>;
  groups: RuleGroup[];
}

/**
 * The PrometheusRule objects Argo CD deploys are the only copy of the rules: Prometheus' own rule-file format is
 * their `spec.groups`, which this takes out for promtool.
 */
export function loadPrometheusRuleFiles(): PrometheusRuleFile[] {
  return listFiles(rulesDir, ['.yaml']).map((file) => {
    const documents = readYamlDocuments(file);
    if (documents.length !== 1) {
      throw new Error(
        `${path.relative(repoRoot, file)}: expected one PrometheusRule, found ${documents.length} documents`,
      );
    }
    const manifest = documents[0] as Record<string, unknown> & {
      kind?: string;
      spec?: { groups?: RuleGroup[] };
    };
    if (manifest.kind !== 'PrometheusRule' || !Array.isArray(manifest.spec?.groups)) {
      throw new Error(`${path.relative(repoRoot, file)}: not a PrometheusRule with spec.groups`);
    }
    return { file, manifest, groups: manifest.spec.groups };
  });
}

export function allRules(
  files: PrometheusRuleFile[] = loadPrometheusRuleFiles(),
): Array<Rule & { group: string; file: string }> {
  return files.flatMap(({ file, groups }) =>
    groups.flatMap((group) => group.rules.map((rule) => ({ ...rule, group: group.name, file }))),
  );
}

/**
 * Writes each manifest's `spec.groups` as a Prometheus rule file under `<dir>/rules/<same name>`, and returns
 * the written paths. The promtool tests in observability/prometheus/tests name their rule files as
 * `../rules/<name>`, which resolves to these when the tests are copied to `<dir>/tests`.
 */
export function extractRuleFiles(
  dir: string,
  files: PrometheusRuleFile[] = loadPrometheusRuleFiles(),
): string[] {
  const out = path.join(dir, 'rules');
  mkdirSync(out, { recursive: true });
  return files.map(({ file, groups }) => {
    const target = path.join(out, path.basename(file));
    writeFileSync(target, stringify({ groups }, { lineWidth: 0 }));
    return target;
  });
}
