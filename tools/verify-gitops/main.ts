// verify-gitops: renders every env overlay and argocd/ with real kustomize, validates every object against its
// schema, applies the named policy rules, and prints each violation with the object and the fix.
//   npm run verify:gitops [-- --root <dir>] [--json]
import { performance } from 'node:perf_hooks';
import { parseOptions, runCli } from '../lib/cli';
import type { Violation } from './model';
import { renderAll } from './render';
import { checkRules, RULES } from './rules';
import { validateTrees } from './schema';

const USAGE = `Usage: npm run verify:gitops [-- --root <dir>] [--json]

Renders gitops/envs/* and argocd/ with kubectl kustomize, validates every object against the Kubernetes and
CRD schemas (kubernetes-models), then applies ${RULES.length} named policy rules.

  --root   repository root (default: current directory)
  --json   print a JSON report instead of text

Exit status: 0 no violation, 1 violations or a tree that does not render.`;

export interface Report {
  objects: Record<string, number>;
  rules: number;
  violations: Violation[];
  milliseconds: number;
}

export async function verify(root: string): Promise<Report> {
  const started = performance.now();
  const trees = renderAll(root);
  const violations = [...(await validateTrees(trees)), ...checkRules(trees, root)];
  return {
    objects: Object.fromEntries(trees.map((tree) => [tree.source, tree.objects.length])),
    rules: RULES.length,
    violations,
    milliseconds: Math.round(performance.now() - started),
  };
}

export function formatReport(report: Report): string {
  const lines = Object.entries(report.objects).map(
    ([source, count]) => `rendered ${source}: ${count} objects`,
  );
  for (const v of report.violations) lines.push(`✗ [${v.rule}] ${v.where}: ${v.message}`);
  lines.push(
    report.violations.length === 0
      ? `verify-gitops: schema + ${report.rules} rules passed (${report.milliseconds} ms)`
      : `verify-gitops: ${report.violations.length} violation(s) (${report.milliseconds} ms)`,
  );
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  void runCli('verify:gitops', USAGE, async (argv) => {
    const options = parseOptions(argv, { root: { type: 'string' }, json: { type: 'boolean' } });
    const report = await verify(options.root ?? process.cwd());
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    if (report.violations.length > 0) process.exitCode = 1;
  });
}
