// A real git repository in a temp folder, shaped like OpsForge's GitOps tree (a base and three env
// overlays that set image tags), so the delivery tools are tested on git and kustomize, not on mocks.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

export const SHA = {
  a: 'a'.repeat(40),
  b: 'b'.repeat(40),
  c: 'c'.repeat(40),
  d: '0123456789abcdef0123456789abcdef01234567',
};

export function overlay(env: string, apiTag: string, workerTag: string): string {
  return `# ${env}: the image tags below are written by the delivery tools; review them in the pull request.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${env}
resources:
  - ../../base
images:
  # api: the HTTP service
  - name: ghcr.io/opsforge/api
    newTag: ${apiTag} # set by CI
  # worker: the queue consumer
  - name: ghcr.io/opsforge/worker
    newTag: ${workerTag}
labels:
  - pairs:
      opsforge.io/env: ${env}
`;
}

function deployment(name: string, port: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app.kubernetes.io/name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: ${name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
    spec:
      containers:
        - name: ${name}
          image: ghcr.io/opsforge/${name}
          ports:
            - name: http
              containerPort: ${port}
`;
}

const BASE_FILES: Record<string, string> = {
  'gitops/base/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - api.yaml
  - worker.yaml
  - redis-auth.yaml
`,
  'gitops/base/api.yaml': deployment('api', 3000),
  'gitops/base/worker.yaml': deployment('worker', 3001),
  'gitops/base/redis-auth.yaml': `apiVersion: v1
kind: Secret
metadata:
  name: redis-auth
stringData:
  password: first-password-value
`,
};

export class GitopsRepo {
  readonly root: string;

  constructor(
    tags: Record<'dev' | 'staging' | 'prod', [string, string]> = {
      dev: [SHA.a, SHA.a],
      staging: [SHA.a, SHA.a],
      prod: [SHA.a, SHA.a],
    },
  ) {
    this.root = mkdtempSync(join(tmpdir(), 'opsforge-gitops-'));
    this.git('init', '-q', '-b', 'main');
    this.git('config', 'user.email', 'tests@opsforge.invalid');
    this.git('config', 'user.name', 'OpsForge tests');
    this.git('config', 'commit.gpgsign', 'false');
    for (const [path, text] of Object.entries(BASE_FILES)) this.write(path, text);
    for (const env of ['dev', 'staging', 'prod'] as const)
      this.write(`gitops/envs/${env}/kustomization.yaml`, overlay(env, ...tags[env]));
    this.commit('initial GitOps tree');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.root, ...args], { encoding: 'utf8' });
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), text);
  }

  read(path: string): string {
    return readFileSync(join(this.root, path), 'utf8');
  }

  overlayPath(env: string): string {
    return `gitops/envs/${env}/kustomization.yaml`;
  }

  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD').trim();
  }

  /** Files git sees as changed since the last commit. */
  changedFiles(): string[] {
    return this.git('status', '--porcelain')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
  }

  /** Lines removed and added since the last commit, without the diff headers. */
  changedLines(path: string): { removed: string[]; added: string[] } {
    const diff = this.git('diff', '--unified=0', '--', path).split('\n');
    return {
      removed: diff
        .filter((line) => line.startsWith('-') && !line.startsWith('---'))
        .map((line) => line.slice(1)),
      added: diff
        .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
        .map((line) => line.slice(1)),
    };
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Runs one of the tools the way a person or a workflow does: a separate process, real exit status. */
export function runTool(tool: 'bump' | 'promote' | 'render-diff', args: string[], cwd: string) {
  const result = spawnSync(TSX, [join(REPO_ROOT, 'tools', tool, 'main.ts'), ...args], {
    cwd,
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
