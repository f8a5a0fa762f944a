// What the rules walk besides each object of some kinds (define-rule.ts eachObjectOfKind): each workload and each
// container of a workload, each with `at`, the where() text a rule flags it by, so a rule's check starts at what it
// checks.
import { IMAGE_REPOSITORY } from '../../lib/gitops';
import {
  containersOf,
  type IContainer,
  podSpec,
  type PodTemplateOwner,
  type Workload,
  workloads,
} from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';

/** A workload (or another pod template owner) of one rendered tree, with `at`, where(tree, workload). */
export interface WorkloadVisit {
  tree: RenderedTree;
  workload: PodTemplateOwner;
  at: string;
}

/**
 * Each workload of the trees, tree by tree: what most rules walk. `select` picks other pod owners from a tree
 * (e.g. the workloads and the Jobs of AnalysisTemplate job metrics).
 */
export function* eachWorkload(
  trees: RenderedTree[],
  select: (tree: RenderedTree) => PodTemplateOwner[] = workloads,
): Generator<WorkloadVisit> {
  for (const tree of trees) {
    for (const workload of select(tree)) yield { tree, workload, at: where(tree, workload) };
  }
}

/** A container of a workload, with `at`, where(tree, workload, label), to flag it by. */
export interface ContainerVisit {
  tree: RenderedTree;
  workload: Workload;
  container: IContainer;
  /** `container "api"` or `initContainer "migrate"`. */
  label: string;
  at: string;
}

/**
 * Each container of each workload of the trees, init containers first (as containersOf lists them) unless
 * `initContainers: false` leaves them out (probes and the shutdown drain concern only the app containers).
 */
export function* eachContainer(
  trees: RenderedTree[],
  { initContainers = true }: { initContainers?: boolean } = {},
): Generator<ContainerVisit> {
  for (const tree of trees) {
    for (const workload of workloads(tree)) {
      const appContainers = new Set(podSpec(workload).containers ?? []);
      for (const { container, label } of containersOf(workload)) {
        if (initContainers || appContainers.has(container))
          yield { tree, workload, container, label, at: where(tree, workload, label) };
      }
    }
  }
}

/** Whether a container runs one of this repository's service images (the rest say for themselves what they need). */
export function isServiceContainer(container: IContainer): boolean {
  return (container.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`);
}
