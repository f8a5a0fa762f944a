// What every rule family's spec shares: the real rendered tree (every rule must pass it) and copies of it broken
// in the one way a rule exists to catch (the rule must fail, naming the object and the fix). A rule that cannot
// fail fails its family's spec.
import { join } from 'node:path';
import type { IAnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate';
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import {
  containersOf,
  type IContainer,
  isMapping,
  type KubernetesObject,
  type ObjectOfKind,
  objectName,
  ofKind,
  podSpec,
  type PodTemplateOwner,
  type Workload,
} from '../../lib/kubernetes';
import type { RenderedTree, Rule, Violation } from '../model';
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

/** A deep copy of the rendered trees with one object, typed by its kind, changed by `change`. */
export function brokenTrees<K extends string>(
  source: string,
  kind: K,
  name: string,
  change: (object: ObjectOfKind<K>) => void,
): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source);
  const object = tree && ofKind(tree, kind).find((o) => o.metadata?.name === name);
  if (!object) throw new Error(`${source} renders no ${kind}/${name}`);
  change(object);
  return copy;
}

/**
 * A field a broken example changes, which the committed tree has (the example's precondition): its value, or
 * the test fails saying what is missing.
 */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`the committed tree has no ${what}`);
  return value;
}

/** A Rollout's canary strategy, which every Rollout of the committed tree has. */
export function canaryOf(rollout: IRollout) {
  return present(rollout.spec.strategy?.canary, `canary strategy in Rollout/${rollout.metadata?.name}`);
}

/** A Rollout's background analysis (templates and args), which every Rollout of the committed tree has. */
export function backgroundAnalysisOf(rollout: IRollout) {
  return present(canaryOf(rollout).analysis, `background analysis in Rollout/${rollout.metadata?.name}`);
}

/** A Rollout's canary steps. */
export function stepsOf(rollout: IRollout) {
  return present(canaryOf(rollout).steps, `canary steps in Rollout/${rollout.metadata?.name}`);
}

/** An AnalysisTemplate's first metric (each template of the committed tree measures one). */
export function firstMetricOf(template: IAnalysisTemplate) {
  return present(template.spec.metrics?.[0], `metric in AnalysisTemplate/${template.metadata?.name}`);
}

/** The mapping at `path` of free-form data (Helm values), to change in place. */
export function mappingAt(values: unknown, path: string): Record<string, unknown> {
  return path.split('.').reduce<Record<string, unknown>>(
    (node, key) => {
      const child = node[key];
      if (!isMapping(child)) throw new Error(`the committed tree has no mapping at ${path}`);
      return child;
    },
    present(isMapping(values) ? values : undefined, `values holding ${path}`),
  );
}

/** The list at `path` of free-form data (Helm values), to change in place. */
export function listAt(values: unknown, path: string): unknown[] {
  const [parent, key] = path.includes('.')
    ? [path.slice(0, path.lastIndexOf('.')), path.slice(path.lastIndexOf('.') + 1)]
    : ['', path];
  const node = parent
    ? mappingAt(values, parent)
    : present(isMapping(values) ? values : undefined, `values holding ${path}`);
  const list = node[key];
  if (!Array.isArray(list)) throw new Error(`the committed tree has no list at ${path}`);
  return list;
}

/** A copy of the trees with one ConfigMap's data entry rewritten (or removed, when `rewrite` returns undefined). */
export function withConfigMapEntry(
  source: string,
  configMap: string,
  key: string,
  rewrite: (text: string) => string | undefined,
): RenderedTree[] {
  return brokenTrees(source, 'ConfigMap', configMap, (object) => {
    const data = present(object.data, `data in ConfigMap/${configMap}`);
    const text = rewrite(present(data[key], `${key} in ConfigMap/${configMap}`));
    if (text === undefined) delete data[key];
    else data[key] = text;
  });
}

/** The single source of an Application of the committed tree. */
export function sourceOf(app: IApplication) {
  return present(app.spec.source, `source in Application/${app.metadata?.name}`);
}

/** The trees with argocd/'s Application `name` following its single source at `revision`. */
export function withSourceRevision(name: string, revision: string): RenderedTree[] {
  return brokenTrees('argocd', 'Application', name, (app) => {
    sourceOf(app).targetRevision = revision;
  });
}

/** The trees with one container of a workload running `image` (or what `image` makes of the current one). */
export function withImage<K extends Workload['kind']>(
  source: string,
  kind: K,
  name: string,
  containerName: string,
  image: string | ((current: string) => string),
): RenderedTree[] {
  return brokenTrees(source, kind, name, (workload) => {
    const { container } = present(
      containersOf(workload).find((c) => c.container.name === containerName),
      `container ${containerName} in ${kind}/${name}`,
    );
    container.image = typeof image === 'string' ? image : image(container.image ?? '');
  });
}

/** The trees with the argo-rollouts chart's init container (it copies the Gateway API plugin) running `image`. */
export function withRolloutsPluginImage(image: string): RenderedTree[] {
  return brokenTrees('argocd', 'Application', 'argo-rollouts', (app) => {
    const [copier] = listAt(sourceOf(app).helm?.valuesObject, 'controller.initContainers');
    present(isMapping(copier) ? copier : undefined, 'plugin init container').image = image;
  });
}

/** The container `name` of a workload's pod, to break; throws (failing the example) when the pod has none. */
export function containerNamed(owner: PodTemplateOwner, name: string): IContainer {
  return present(
    podSpec(owner).containers?.find((c) => c.name === name),
    `container "${name}" in ${objectName(owner)}`,
  );
}

/** The trees with Rollout `rollout`'s container of the same name (api, worker) given one more env variable. */
export function withEnv(source: string, rollout: string, variable: string, value: string): RenderedTree[] {
  return brokenTrees(source, 'Rollout', rollout, (o) => {
    present(containerNamed(o, rollout).env, `env of container ${rollout} in Rollout/${rollout}`).push({
      name: variable,
      value,
    });
  });
}

/**
 * The data of the ConfigMap named `namePrefix`… in the tree `source` of `trees` (a copy a spec is breaking):
 * kustomize's configMapGenerator appends a content hash to the name.
 */
export function generatedConfigData(
  trees: RenderedTree[],
  source: string,
  namePrefix: string,
): Record<string, string> {
  const tree = trees.find((t) => t.source === source);
  const configMap = tree && ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name?.startsWith(namePrefix));
  return present(configMap?.data, `data in a ConfigMap ${namePrefix}… of ${source}`);
}

/** The first identity a Kyverno ImageValidatingPolicy's first keyless attestor accepts (Kyverno's CRD schema). */
export function firstAttestorIdentity(policy: KubernetesObject): Record<string, unknown> {
  const [attestor] = listAt(policy.spec, 'attestors');
  const [identity] = listAt(attestor, 'cosign.keyless.identities');
  return present(isMapping(identity) ? identity : undefined, 'keyless identity');
}

export function removeObject(source: string, kind: string, name: string): RenderedTree[] {
  const copy = structuredClone(rendered);
  const tree = copy.find((t) => t.source === source) as RenderedTree;
  tree.objects = tree.objects.filter((o) => !(o.kind === kind && o.metadata?.name === name));
  return copy;
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
