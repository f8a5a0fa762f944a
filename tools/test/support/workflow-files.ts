// The repository's workflows and CODEOWNERS as the workflow specs read them, and broken copies of them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokenCopy } from './broken-copy';
import { REPO_ROOT } from './gitops-repo';
import { parseWorkflow, type Workflow } from './workflow-policy';

export const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');
export const workflowNames = readdirSync(WORKFLOWS_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();
export const workflowText = (name: string) => readFileSync(join(WORKFLOWS_DIR, name), 'utf8');
export const workflow = (name: string) => parseWorkflow(name, workflowText(name));
export const codeowners = readFileSync(join(REPO_ROOT, '.github', 'CODEOWNERS'), 'utf8');

/** A copy of a real workflow with one thing broken (brokenCopy). */
export function brokenWorkflow(name: string, find: string | RegExp, replace: string): Workflow {
  return parseWorkflow(`${name} (broken)`, brokenCopy(workflowText(name), find, replace, name));
}

/** A mistake to make in a copy of a workflow: its name, the text it replaces and with what, and the words of
 * the problem the check must report. */
export type WorkflowMistake = [mistake: string, find: string | RegExp, replace: string, problem: string];

/** One test per mistake: made in a copy of workflow `name`, it is reported by `check`, in words that contain its problem. */
export function itCatches(
  label: string,
  name: string,
  check: (workflow: Workflow) => string[],
  mistakes: WorkflowMistake[],
): void {
  it.each(mistakes)(`${label}: %s is caught`, (_mistake, find, replace, problem) => {
    expect(check(brokenWorkflow(name, find, replace)).join('\n')).toContain(problem);
  });
}

/** One test per workflow in `names`: `check` finds nothing to report in it. */
export function itHolds(names: string[], title: string, check: (workflow: Workflow) => string[]): void {
  it.each(names)(title, (name) => {
    expect(check(workflow(name))).toEqual([]);
  });
}
