// What every rule family's spec shares: the real rendered tree (every rule must pass it) and copies of it broken
// in the one way a rule exists to catch (the rule must fail, naming the object and the fix). A rule that cannot
// fail fails its family's spec.
import { join } from 'node:path';
import type { K8sObject, RenderedTree, Rule, Violation } from '../model';
import { renderAll } from '../render';
import { RULES } from './index';

export const repositoryRoot = join(__dirname, '..', '..', '..');
export let rendered: RenderedTree[];

export function renderCommittedTree(): void {
  beforeAll(() => {
    rendered = renderAll(repositoryRoot);
  });
}

export function run(ruleName: string, trees: RenderedTree[]): Violation[] {
  const rule = RULES.find((r) => r.name === ruleName);
  if (!rule) throw new Error(`no rule named ${ruleName}`);
  return rule.check(trees, repositoryRoot);
}

/** A deep copy of the rendered trees with one object changed. */
export function breakObject(
  source: string,
  kind: string,
  name: string,
  mutate: (object: K8sObject) => void,
): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source);
  const object = tree?.objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object) throw new Error(`${source} renders no ${kind}/${name}`);
  mutate(object);
  return copy;
}

export function removeObject(source: string, kind: string, name: string): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source) as RenderedTree;
  tree.objects = tree.objects.filter((o) => !(o.kind === kind && o.metadata?.name === name));
  return copy;
}

export function container(object: K8sObject, name: string): K8sObject {
  return object.spec.template.spec.containers.find((c: K8sObject) => c.name === name);
}

export function expectViolation(violations: Violation[], whereText: string, message: RegExp): void {
  expect(violations).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        where: expect.stringContaining(whereText),
        message: expect.stringMatching(message),
      }),
    ]),
  );
}

/**
 * A family's spec: every rule has a summary and exactly one broken example, and fails on it. `broken` maps each
 * rule name to a scenario that breaks the committed tree and expects that rule's violation.
 */
export function testRuleFamily(rules: Rule[], broken: Record<string, () => void>): void {
  renderCommittedTree();
  test('every rule has a summary and a broken example below', () => {
    for (const rule of rules) expect(rule.summary.length).toBeGreaterThan(20);
    expect(rules.map((r) => r.name).sort()).toEqual(Object.keys(broken).sort());
  });
  describe('each rule fails on the object it exists to catch', () => {
    for (const [name, scenario] of Object.entries(broken)) test(name, scenario);
  });
}
