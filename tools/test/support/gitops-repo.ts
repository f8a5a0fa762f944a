// A real git repository in a temp folder, shaped like OpsForge's GitOps tree (a base, the images component
// with tags and digests, three env overlays, and the revision each environment renders: dev follows main,
// staging and prod pinned to a commit), so the delivery tools are tested on git and kustomize, not on mocks.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const IMAGES_PATH = 'gitops/images/kustomization.yaml';
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

export const SHA = {
  a: 'a'.repeat(40),
  b: 'b'.repeat(40),
  c: 'c'.repeat(40),
  d: '0123456789abcdef0123456789abcdef01234567',
};

export const DIGEST = {
  a: `sha256:${'a'.repeat(64)}`,
  b: `sha256:${'b'.repeat(64)}`,
  c: `sha256:${'c'.repeat(64)}`,
  d: `sha256:${'0123456789abcdef'.repeat(4)}`,
};

export type Release = [tag: string, digest: string];

/** gitops/images/kustomization.yaml: the component naming both images by tag and digest. */
export function imagesComponent(api: Release, worker: Release): string {
  return `# The images every environment runs at this commit, written by the delivery tools.
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
images:
  # api: the HTTP service
  - name: ghcr.io/opsforge/api
    newTag: ${api[0]} # set by CI
    digest: ${api[1]}
  # worker: the queue consumer
  - name: ghcr.io/opsforge/worker
    newTag: ${worker[0]}
    digest: ${worker[1]}
`;
}

export function overlay(env: string): string {
  return `# ${env}: what this environment changes; the images come from gitops/images.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${env}
resources:
  - ../../base
components:
  - ../../images
labels:
  - pairs:
      opsforge.io/env: ${env}
`;
}

export function revisionFile(targetRevision: string): string {
  return `# The commit of main this environment renders; changed by promotion pull requests.
targetRevision: ${targetRevision}
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
  /** The first commit: staging and prod are pinned to it. */
  readonly initialCommit: string;

  constructor(
    images: { api: Release; worker: Release } = { api: [SHA.a, DIGEST.a], worker: [SHA.a, DIGEST.a] },
  ) {
    this.root = mkdtempSync(join(tmpdir(), 'opsforge-gitops-'));
    this.git('init', '-q', '-b', 'main');
    this.git('config', 'user.email', 'tests@opsforge.invalid');
    this.git('config', 'user.name', 'OpsForge tests');
    this.git('config', 'commit.gpgsign', 'false');
    for (const [path, text] of Object.entries(BASE_FILES)) this.write(path, text);
    this.write(IMAGES_PATH, imagesComponent(images.api, images.worker));
    for (const env of ['dev', 'staging', 'prod'] as const)
      this.write(`gitops/envs/${env}/kustomization.yaml`, overlay(env));
    this.write(this.revisionPath('dev'), revisionFile('main'));
    this.initialCommit = this.commit('initial GitOps tree');
    // Promoted the way the tools do it: staging first, then prod to what staging runs.
    this.write(this.revisionPath('staging'), revisionFile(this.initialCommit));
    this.commit('staging: promote the initial tree');
    this.write(this.revisionPath('prod'), revisionFile(this.initialCommit));
    this.commit('prod: promote what staging runs');
  }

  revisionPath(env: string): string {
    return `gitops/envs/${env}/revision.yaml`;
  }

  /** The commit an environment is pinned to in the working tree (dev: "main"). */
  pinnedRevision(env: string): string {
    return /^targetRevision: (\S+)$/m.exec(this.read(this.revisionPath(env)))![1];
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.root, ...args], { encoding: 'utf8' });
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), text);
  }

  /** Rewrites one file of the working tree; an edit that changes nothing is a mistake of the test. */
  edit(path: string, change: (text: string) => string): void {
    const original = this.read(path);
    const changed = change(original);
    if (changed === original) throw new Error(`the edit of ${path} changed nothing`);
    this.write(path, changed);
  }

  read(path: string): string {
    return readFileSync(join(this.root, path), 'utf8');
  }

  overlayPath(env: string): string {
    return `gitops/envs/${env}/kustomization.yaml`;
  }

  /** Writes both images into gitops/images, as release.yml's bump would. */
  setImages(api: Release, worker: Release): void {
    this.write(IMAGES_PATH, imagesComponent(api, worker));
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

/**
 * Gives each test of the enclosing describe block its own fixture repository (made by `make`), handed to `use`
 * before the test and removed after it.
 */
export function freshRepoForEachTest(
  use: (repo: GitopsRepo) => void,
  make: () => GitopsRepo = () => new GitopsRepo(),
): void {
  let repo: GitopsRepo | undefined;
  beforeEach(() => {
    repo = make();
    use(repo);
  });
  afterEach(() => repo?.remove());
}

/** What a tool's function threw when it refused a request; a request it carried out fails the test. */
export function refusalOf(request: () => unknown): Error {
  try {
    request();
  } catch (error) {
    return error as Error;
  }
  throw new Error('the request was carried out, not refused');
}
