// The rules of promotion and review the delivery workflows keep: prod behind a protected environment and code
// owners, the promotion rule checked against main's history, one branch per target, Dependabot's cooldown.
import { spawnSync } from 'node:child_process';
import { minimatch } from 'minimatch';
import { REPO_ROOT } from './gitops-repo';
import { isCheckout, type Json, jobsOf, runsTool, stepsOf, triggers, type Workflow } from './workflow-policy';

/** Evaluates a GitHub Actions expression with GitHub's own evaluator (@actions/expressions, an ES module). */
export function evaluateExpression(expression: string, contexts: Json): string {
  const script = `
    import { Lexer, Parser, Evaluator, data } from '@actions/expressions';
    const [expression, contexts] = JSON.parse(process.argv[1]);
    const tree = new Parser(new Lexer(expression).lex().tokens, Object.keys(contexts), []).parse();
    process.stdout.write(new Evaluator(tree, JSON.parse(JSON.stringify(contexts), data.reviver)).evaluate().coerceString());`;
  const result = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify([expression, contexts])],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`cannot evaluate ${expression}: ${result.stderr}`);
  return result.stdout;
}

/** A value as the runner sees it: `${{ expr }}` evaluated, a plain string as it is. */
function resolve(value: string, contexts: Json): string {
  const whole = value.match(/^\$\{\{([\s\S]*)\}\}$/);
  return whole ? evaluateExpression(whole[1].trim(), contexts) : value;
}

/**
 * A promotion to prod runs in the protected `production` environment (required reviewers approve the run),
 * and the pull request it opens needs the code owners of gitops/envs/prod/.
 */
export function prodPromotionProtected(workflow: Workflow, codeowners: string): string[] {
  const problems: string[] = [];
  const promoteJobs = jobsOf(workflow).filter(([, job]) =>
    stepsOf(job).some((step) => runsTool(step, 'promote')),
  );
  if (promoteJobs.length === 0) return [`${workflow.name}: no job runs the promote tool`];
  const contexts = {
    inputs: { target: 'prod' },
    github: { event_name: 'workflow_dispatch', ref: 'refs/heads/main' },
  };
  for (const [id, job] of promoteJobs) {
    const environment = typeof job.environment === 'object' ? job.environment.name : job.environment;
    const resolved = environment === undefined ? undefined : resolve(String(environment), contexts);
    if (resolved !== 'production') {
      problems.push(
        `${workflow.name}: job ${id} promotes to prod in environment "${resolved ?? '(none)'}", not the protected "production"`,
      );
    }
  }
  if (codeownersOf(codeowners, 'gitops/envs/prod/revision.yaml').length === 0)
    problems.push('CODEOWNERS names no owner for gitops/envs/prod/: a prod pull request needs no review');
  return problems;
}

/**
 * The owners GitHub asks for a change to `path`: the last matching CODEOWNERS pattern wins. A pattern with
 * a leading slash is anchored at the root, one with a trailing slash is a directory, one without a slash
 * matches at any depth (gitignore rules).
 */
export function codeownersOf(codeowners: string, path: string): string[] {
  const rules = codeowners
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(/\s+/));
  const matches = rules.filter(([pattern]) => {
    let glob = pattern.endsWith('/') ? `${pattern}**` : pattern;
    glob = glob.startsWith('/') ? glob.slice(1) : glob.includes('/') ? glob : `**/${glob}`;
    return minimatch(path, glob, { dot: true });
  });
  return matches.pop()?.slice(1) ?? [];
}

/** What runs with the pipeline's credentials needs a code owner's review: workflows, tools, manifests of npm. */
export function codeownersCoverPipeline(codeowners: string): string[] {
  return [
    '.github/workflows/release.yml',
    '.github/CODEOWNERS',
    'tools/promote/main.ts',
    'tools/lib/gitops.ts',
    'package.json',
    'package-lock.json',
    'services/api/package.json',
  ]
    .filter((path) => codeownersOf(codeowners, path).length === 0)
    .map((path) => `CODEOWNERS names no owner for ${path}, which runs with the pipeline's credentials`);
}

/**
 * The promotion rule is checked on every trigger (pull request, push, manual run on a branch) against
 * origin/main's history, with the whole history fetched: never HEAD^1, which a branch's author controls.
 */
export function promotionHistoryOnEveryTrigger(workflow: Workflow): string[] {
  const problems: string[] = [];
  for (const trigger of ['pull_request', 'push', 'workflow_dispatch']) {
    if (!triggers(workflow).includes(trigger)) problems.push(`${workflow.name}: does not run on ${trigger}`);
  }
  const verifying = jobsOf(workflow).filter(([, job]) =>
    stepsOf(job).some(
      (step) => typeof step.run === 'string' && /npm run (--silent )?promote -- --verify\b/.test(step.run),
    ),
  );
  if (verifying.length === 0) return [...problems, `${workflow.name}: no job runs "promote -- --verify"`];
  for (const [id, job] of verifying) {
    if (job.if !== undefined)
      problems.push(`${workflow.name}: job ${id} verifies promotions only when ${String(job.if)}`);
    for (const step of stepsOf(job)) {
      if (
        typeof step.run === 'string' &&
        /promote -- --verify\b/.test(step.run) &&
        !/--verify --main origin\/main\b/.test(step.run)
      )
        problems.push(
          `${workflow.name}: job ${id} verifies against "${step.run.trim()}", not --main origin/main`,
        );
      if (isCheckout(step) && String(step.with?.['fetch-depth']) !== '0')
        problems.push(`${workflow.name}: job ${id} checks out without the whole history (fetch-depth: 0)`);
    }
  }
  return problems;
}

/**
 * One branch per target: each promotion force-pushes promote/<target> and rewrites the open pull request,
 * and closes it when there is nothing left to promote, so an older promotion can never merge after a newer.
 */
export function onePromotionBranchPerTarget(workflow: Workflow): string[] {
  const steps = jobsOf(workflow).flatMap(([, job]) =>
    stepsOf(job).filter((step) => runsTool(step, 'promote')),
  );
  if (steps.length === 0) return [`${workflow.name}: no step runs the promote tool`];
  const script = steps.map((step) => String(step.run)).join('\n');
  const problems: string[] = [];
  if (!/^\s*branch="promote\/\$TARGET"\s*$/m.test(script))
    problems.push(
      `${workflow.name}: the promotion branch is not exactly promote/$TARGET: promotions pile up side by side`,
    );
  if (!/\bpush\b[^\n]*--force\b/.test(script))
    problems.push(
      `${workflow.name}: the promotion branch is not force-pushed, so a newer promotion cannot replace it`,
    );
  if (!/\bgh pr edit\b/.test(script))
    problems.push(`${workflow.name}: an open promotion pull request is not updated by a newer promotion`);
  if (!/\bgh pr close\b/.test(script))
    problems.push(
      `${workflow.name}: an open promotion pull request stays open when nothing is left to promote`,
    );
  return problems;
}

/** Every Dependabot update waits before proposing a new version (cooldown), so a bad release is usually pulled first. */
export function dependabotCooldown(config: { updates: Json[] }): string[] {
  return config.updates
    .filter((update) => !(Number((update.cooldown as Json | undefined)?.['default-days']) >= 1))
    .map(
      (update) =>
        `dependabot: the ${String(update['package-ecosystem'])} updates have no cooldown.default-days`,
    );
}
