// Runs argocd/test/argo-templates (Go): our notification templates and deep links evaluated by Go's text/template
// with sprig and by expr, the libraries Argo CD and Argo Rollouts evaluate them with, instead of a model of them.
// Built once per machine from Debian's golang-go, golang-github-masterminds-sprig-dev and
// golang-github-antonmedv-expr-dev (.ci/run installs them).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE_DIRECTORY = join(__dirname, '..', 'argo-templates');
const BUILD_DIRECTORY = join(tmpdir(), 'opsforge-argo-templates');
const BINARY = join(BUILD_DIRECTORY, 'argo-templates');
/** Where Debian's golang-*-dev packages put their sources (GOPATH mode: Debian ships no module cache). */
const DEBIAN_GOPATH = '/usr/share/gocode';

export type Vars = Record<string, unknown>;
export type Job = { template: string; vars: Vars } | { expr: string; vars: Vars };
export interface Result {
  output?: string;
  value?: unknown;
  error?: string;
}

function build(): string {
  const source = join(SOURCE_DIRECTORY, 'main.go');
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(source).mtimeMs) return BINARY;
  mkdirSync(BUILD_DIRECTORY, { recursive: true });
  try {
    execFileSync('go', ['build', '-o', BINARY, '.'], {
      cwd: SOURCE_DIRECTORY,
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: DEBIAN_GOPATH,
        GOCACHE: join(BUILD_DIRECTORY, 'go-cache'),
        GOFLAGS: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(
      `cannot build argocd/test/argo-templates: ${stderr.trim()}\n` +
        'install Go with sprig and expr from Debian: apt-get install golang-go ' +
        'golang-github-masterminds-sprig-dev golang-github-antonmedv-expr-dev (.ci/run does)',
      { cause: error },
    );
  }
  return BINARY;
}

/** Evaluates every job in one run of the Go program; results come back in the jobs' order. */
export function evaluate(jobs: Job[]): Result[] {
  const output = execFileSync(build(), [], { input: JSON.stringify(jobs), maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(output.toString()) as Result[];
}

/** One template's output; a template error fails loudly with the template's first line. */
export function renderTemplate(template: string, vars: Vars): string {
  const [result] = evaluate([{ template, vars }]);
  if (result.error !== undefined || result.output === undefined) {
    throw new Error(`template failed: ${result.error}\n  ${template.split('\n')[0]}`);
  }
  return result.output;
}

/** One expr condition's value; an evaluation error fails loudly with the expression. */
export function evaluateExpr(expression: string, vars: Vars): unknown {
  const [result] = evaluate([{ expr: expression, vars }]);
  if (result.error !== undefined) throw new Error(`expr failed: ${result.error}\n  ${expression}`);
  return result.value ?? null;
}
