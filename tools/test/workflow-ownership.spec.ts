// Who reviews what runs with the pipeline's credentials (CODEOWNERS), how new versions arrive (Dependabot), and
// the delivery workflows' action pins against the upstream ledger.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadLedger } from '../verify-gitops/upstream';
import { REPO_ROOT } from './support/gitops-repo';
import { codeownersCoverPipeline, codeownersOf, dependabotCooldown } from './support/promotion-policy';
import { codeowners, workflowText } from './support/workflow-files';

describe('GitHub Actions workflows', () => {
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
    for (const match of workflowText(name).matchAll(/uses: ([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)/g)) {
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
      for (const match of workflowText(name).matchAll(/^\s+version: (v[\d.]+)$/gm))
        expect(match[1]).toBe(ledger.tools.trivy.version);
  });
});
