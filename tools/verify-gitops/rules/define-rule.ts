// The one shape of a policy rule: a name, a one-line summary, and a check that flags each object breaking it
// with what to change. defineRule collects the flags into violations named after the rule.
import { type ObjectOfKind, ofKind } from '../../lib/kubernetes';
import { type RenderedTree, type Rule, type Violation, where } from '../model';

export interface RuleContext {
  trees: RenderedTree[];
  /** The repository checkout the trees were rendered from. */
  root: string;
  /** Records that the object at `where` (see model.ts `where`) breaks the rule; `message` says what to change. */
  flag(where: string, message: string): void;
}

export interface RuleDefinition {
  name: string;
  summary: string;
  check(context: RuleContext): void;
}

export function defineRule(definition: RuleDefinition): Rule {
  return {
    name: definition.name,
    summary: definition.summary,
    check(trees, root) {
      const violations: Violation[] = [];
      definition.check({
        trees,
        root,
        flag: (where, message) => violations.push({ rule: definition.name, where, message }),
      });
      return violations;
    },
  };
}

export function envTrees(trees: RenderedTree[]): RenderedTree[] {
  return trees.filter((tree) => tree.role === 'env');
}

export function argocdTrees(trees: RenderedTree[]): RenderedTree[] {
  return trees.filter((tree) => tree.role === 'argocd');
}

/** An object of one rendered tree, typed by its kind, with `at` (model.ts where()) to flag it by. */
export interface KindVisit<T> {
  tree: RenderedTree;
  object: T;
  at: string;
}

/** Each object of the given kinds in the trees, tree by tree, typed by kind (see ofKind). */
export function* eachObjectOfKind<K extends string>(
  trees: RenderedTree[],
  ...kinds: K[]
): Generator<KindVisit<ObjectOfKind<K>>> {
  for (const tree of trees) {
    for (const object of ofKind(tree, ...kinds)) yield { tree, object, at: where(tree, object) };
  }
}
