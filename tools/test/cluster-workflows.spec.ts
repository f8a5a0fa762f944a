// The workflows that install a cluster (e2e.yml, platform.yml) against their policy.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLedger } from '../verify-gitops/upstream';
import { REPO_ROOT } from './support/gitops-repo';
import { jobsReadOnly } from './support/workflow-policy';
import {
  bootstrapApplies,
  bumpCallsMatchCli,
  bumpFlags,
  e2eFollowsBootstrap,
  pinsMatchLedger,
  toolPinsExact,
} from './support/cluster-workflow-policy';
import { brokenWorkflow, itCatches, itHolds, workflow } from './support/workflow-files';

describe('GitHub Actions workflows', () => {
  describe('policy for the workflows that install a cluster (e2e.yml, platform.yml)', () => {
    const CLUSTER_WORKFLOWS = ['e2e.yml', 'platform.yml'];
    const ledger = loadLedger();
    const platformCharts = readdirSync(join(REPO_ROOT, 'argocd', 'platform'), { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(REPO_ROOT, 'argocd', 'platform', entry.name), 'utf8'))
      .flatMap((text) => [...text.matchAll(/^\s+chart: (\S+)$/gm)].map((match) => match[1]));

    itHolds(
      CLUSTER_WORKFLOWS,
      '%s pins every tool exactly: versions, digests, commits, checksums; no latest',
      toolPinsExact,
    );

    itCatches('pins', 'e2e.yml', toolPinsExact, [
      [
        'a version range',
        'KIND_VERSION: v0.32.0',
        'KIND_VERSION: v0.32',
        'KIND_VERSION is "v0.32", not an exact x.y.z version',
      ],
      [
        'a node image by tag only',
        /(KIND_NODE_IMAGE: kindest\/node:v[\d.]+)@sha256:[0-9a-f]{64}/,
        '$1',
        'not an image by tag and digest',
      ],
      [
        'go install of a branch',
        '"sigs.k8s.io/kind@${KIND_VERSION}"',
        '"sigs.k8s.io/kind@main"',
        'go installs @main, not a pinned version',
      ],
      [
        'an OCI chart without its version',
        ' --version "$ENVOY_GATEWAY_VERSION"',
        '',
        'installs an OCI chart without a pinned --version',
      ],
      [
        'a raw file at a tag',
        'kubectl apply --server-side -k "https://github.com/kubernetes-sigs/gateway-api//config/crd?ref=${GATEWAY_API_COMMIT}"',
        'kubectl apply --server-side -f "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/${GATEWAY_API_VERSION}/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"',
        'reads raw.githubusercontent.com at ${GATEWAY_API_VERSION}, not a commit',
      ],
    ]);
    itCatches('pins', 'platform.yml', toolPinsExact, [
      ['latest', 'KUBECONFORM_VERSION: v0.7.0', 'KUBECONFORM_VERSION: latest', 'pins something to "latest"'],
      [
        'a download without its checksum',
        /^ +echo "\$\{HELM_SHA256\}.*\n/m,
        '',
        'downloads without checking a pinned sha256',
      ],
      [
        'CRDs from a branch',
        'config/crd?ref=${GATEWAY_API_COMMIT}',
        'config/crd?ref=main',
        'reads a GitHub kustomization at main, not a commit',
      ],
    ]);

    itHolds(
      CLUSTER_WORKFLOWS,
      '%s pins what the upstream ledger records (section e2e), and nothing it does not',
      (workflow) => pinsMatchLedger(workflow, ledger),
    );

    it('ledger: a version the ledger does not record, or a new pin missing from it, is caught', () => {
      expect(
        pinsMatchLedger(
          brokenWorkflow('e2e.yml', 'ENVOY_GATEWAY_VERSION: v1.9.0', 'ENVOY_GATEWAY_VERSION: v1.8.3'),
          ledger,
        ),
      ).toEqual(['e2e.yml (broken): ENVOY_GATEWAY_VERSION is v1.8.3, the upstream ledger records v1.9.0']);
      expect(
        pinsMatchLedger(brokenWorkflow('platform.yml', /^env:\n/m, 'env:\n  YQ_VERSION: v4.45.1\n'), ledger),
      ).toEqual(['platform.yml (broken): YQ_VERSION is pinned here but not recorded in the upstream ledger']);
    });

    itHolds(CLUSTER_WORKFLOWS, '%s asks for no write permission in any job (they only read)', jobsReadOnly);

    it('permissions: a job of the e2e that asks for write is caught', () => {
      expect(
        jobsReadOnly(
          brokenWorkflow(
            'e2e.yml',
            /^( {4}runs-on: ubuntu-24.04\n)/m,
            '$1    permissions:\n      contents: write\n',
          ),
        ),
      ).toEqual(['e2e.yml (broken): job adopter-path asks for contents: write, but only reads']);
    });

    const bumpCli = bumpFlags();

    it.each(['e2e.yml', 'release.yml'])(
      "%s: every bump it runs uses bump's flags and names the image by digest",
      (name) => {
        expect(bumpCli).toEqual(['--service', '--tag', '--digest', '--only-forward', '--root']);
        expect(bumpCallsMatchCli(workflow(name), bumpCli)).toEqual([]);
      },
    );

    it('e2e: a bump with a flag bump lost, or without the digest, is caught', () => {
      const problems = bumpCallsMatchCli(
        brokenWorkflow(
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

    itCatches('e2e', 'e2e.yml', (e2e) => e2eFollowsBootstrap(e2e, documented, platformCharts), [
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
    ]);
  });
});
