// The committed tree against every rule (it must pass), and the layout that keeps every rule tested: one family
// per file, each with its spec of broken examples.
import { readdirSync } from 'node:fs';
import { ARGOCD, DEV, PROD, STAGING } from './tree-names';
import { rendered, renderCommittedTree, repositoryRoot } from './broken-trees';
import { RULE_FAMILIES, RULES } from './index';

renderCommittedTree();

test('the committed tree renders dev, staging, prod and argocd and breaks no rule', () => {
  expect(
    rendered
      .filter((t) => t.role !== 'application-source')
      .map((t) => t.source)
      .sort(),
  ).toEqual([ARGOCD, DEV, PROD, STAGING].sort());
  for (const rule of RULES)
    expect({ rule: rule.name, violations: rule.check(rendered, repositoryRoot) }).toEqual({
      rule: rule.name,
      violations: [],
    });
});

test('every rule has a unique name and sits in a family file with a spec of its own', () => {
  const names = RULES.map((r) => r.name);
  expect(new Set(names).size).toBe(names.length);
  const files = readdirSync(__dirname);
  const families = files
    .filter((file) => file.endsWith('.spec.ts') && file !== 'index.spec.ts')
    .map((file) => file.replace(/\.spec\.ts$/, ''));
  expect(Object.keys(RULE_FAMILIES).sort()).toEqual(families.sort());
  for (const family of families) expect(files).toContain(`${family}.ts`);
});
