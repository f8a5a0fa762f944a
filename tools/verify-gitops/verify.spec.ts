// The verify:gitops command end to end, as a person runs it: real kustomize, the kubernetes-models schemas (ES
// modules, hence a child process rather than jest's module loader), the rules, the exit status and the report.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UPSTREAM_LEDGER_FILE } from './upstream';

const repositoryRoot = join(__dirname, '..', '..');
const tsxCli = join(repositoryRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const mainScript = join(__dirname, 'main.ts');

function runVerify(root: string, ...flags: string[]) {
  const result = spawnSync(process.execPath, [tsxCli, mainScript, '--root', root, ...flags], {
    cwd: repositoryRoot,
    encoding: 'utf8',
    // A bound against a hung child, not a speed check: one run takes 35 s on an idle 2-core machine and over a
    // minute when it is shared, and a kill there read as a failed verification (status 143).
    timeout: 300_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A scratch copy of the trees and the upstream ledger verify-gitops reads, to break without touching the repository. */
function scratchTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'verify-gitops-'));
  for (const path of ['gitops', 'rollouts', 'argocd', 'observability', UPSTREAM_LEDGER_FILE]) {
    cpSync(join(repositoryRoot, path), join(root, path), { recursive: true });
  }
  return root;
}

const scratchRoots: string[] = [];
afterAll(() => {
  for (const root of scratchRoots) rmSync(root, { recursive: true, force: true });
});

test('the committed tree renders, matches every schema and passes every rule', () => {
  const { status, stdout, stderr } = runVerify(repositoryRoot, '--json');
  expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  const report = JSON.parse(stdout) as {
    objects: Record<string, number>;
    rules: number;
    violations: unknown[];
    milliseconds: number;
  };
  expect(report.violations).toEqual([]);
  expect(Object.keys(report.objects)).toEqual(
    expect.arrayContaining(['argocd', 'gitops/envs/dev', 'gitops/envs/prod', 'gitops/envs/staging']),
  );
  // What the observability Application deploys is validated too.
  expect(Object.keys(report.objects).some((source) => source.startsWith('observability'))).toBe(true);
  for (const source of ['argocd', 'gitops/envs/dev', 'gitops/envs/prod', 'gitops/envs/staging']) {
    expect(report.objects[source]).toBeGreaterThan(10);
  }
  expect(report.rules).toBeGreaterThanOrEqual(20);
});

test('a kind no schema package knows, a field of the wrong type, a misspelt field and a moving image tag each fail with the object named', () => {
  const root = scratchTree();
  scratchRoots.push(root);
  // An object of an unknown kind in the base reaches every env.
  writeFileSync(
    join(root, 'gitops/base/api/canary-dashboard.yaml'),
    'apiVersion: example.com/v1\nkind: CanaryDashboard\nmetadata:\n  name: api\nspec: {}\n',
  );
  const apiKustomization = join(root, 'gitops/base/api/kustomization.yaml');
  writeFileSync(
    apiKustomization,
    readFileSync(apiKustomization, 'utf8').replace('resources:\n', 'resources:\n  - canary-dashboard.yaml\n'),
  );
  // A PDB whose maxUnavailable is an object, not an int-or-string.
  const pdb = join(root, 'gitops/base/worker/pdb.yaml');
  writeFileSync(pdb, readFileSync(pdb, 'utf8').replace('maxUnavailable: 1', 'maxUnavailable: { pods: 1 }'));
  // A misspelt field: valid YAML, valid types, silently dropped by Kubernetes.
  const hpa = join(root, 'gitops/base/api/hpa.yaml');
  writeFileSync(hpa, readFileSync(hpa, 'utf8').replace('  behavior:', '  behaviour:'));
  // The images component asks for a moving tag (every env renders it).
  const images = join(root, 'gitops/images/kustomization.yaml');
  writeFileSync(
    images,
    readFileSync(images, 'utf8').replace(/newTag: [0-9a-f]{40}\n(?![\s\S]*newTag)/, 'newTag: latest\n'),
  );

  const { status, stdout } = runVerify(root);
  expect(status).toBe(1);
  expect(stdout).toMatch(
    /✗ \[schema\] gitops\/envs\/dev: CanaryDashboard\/api: unknown kind CanaryDashboard in example.com\/v1/,
  );
  expect(stdout).toMatch(
    /✗ \[schema\] gitops\/envs\/prod: PodDisruptionBudget\/worker: does not match the policy\/v1 PodDisruptionBudget schema: \/spec\/maxUnavailable/,
  );
  expect(stdout).toMatch(
    /✗ \[schema\] gitops\/envs\/staging: HorizontalPodAutoscaler\/api: unknown field spec.behaviour: the autoscaling\/v2 HorizontalPodAutoscaler schema has no such field/,
  );
  expect(stdout).toMatch(
    /✗ \[immutable-image-tags\] gitops\/envs\/prod: Rollout\/worker container "worker": image "ghcr.io\/opsforge\/worker:latest@sha256:[0-9a-f]{64}" must be tagged with the 40-character git sha/,
  );
  expect(stdout).toMatch(/verify-gitops: \d+ violation\(s\)/);
});

test("a tree kustomize cannot render fails with kustomize's own message", () => {
  const root = scratchTree();
  scratchRoots.push(root);
  const staging = join(root, 'gitops/envs/staging/kustomization.yaml');
  writeFileSync(staging, readFileSync(staging, 'utf8').replace('- ../../base', '- ../../no-such-base'));
  const { status, stderr } = runVerify(root);
  expect(status).toBe(1);
  expect(stderr).toMatch(/verify:gitops: kubectl kustomize gitops\/envs\/staging failed: .+/);
});
