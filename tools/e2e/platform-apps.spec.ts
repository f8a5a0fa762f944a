import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/gitops-repo';
import { loadPlatformApplications, renderOf } from './platform-apps';

const OPTIONS = {
  repoURL: 'https://github.com/opsforge/opsforge.git',
  kubeVersion: '1.36.1',
  apiVersions: ['monitoring.coreos.com/v1'],
  valuesFile: '/tmp/values.yaml',
  checkoutsDir: '/tmp/charts',
};

// What the platform workflow runs for each real Application in argocd/platform (helm itself runs on GitHub).
describe('rendering the platform Applications as Argo CD would', () => {
  const applications = loadPlatformApplications(REPO_ROOT);
  const renders = applications.map((application) => renderOf(application, OPTIONS));

  it('covers every Application in argocd/platform: this repository with kustomize, every chart with helm', () => {
    expect(renders.map((render) => render.app).sort()).toEqual(
      applications.map((application) => application.metadata.name).sort(),
    );
    // This repository's folders (observability, the image-signature policy) go through kustomize; charts
    // through helm, including a chart read from a git repository at a commit (no chart: but a path elsewhere).
    const ownFolders = applications.flatMap((application) =>
      (application.spec.sources ?? [application.spec.source!]).flatMap((source) =>
        source.repoURL === OPTIONS.repoURL && source.path ? [source.path] : [],
      ),
    );
    const kustomized = renders.flatMap((render) => (render.kind === 'kustomize' ? [render.path] : []));
    expect(kustomized.sort()).toEqual(ownFolders.sort());
    expect(kustomized).toEqual(expect.arrayContaining(['observability', 'argocd/platform/image-signatures']));
    expect(renders.filter((render) => render.kind === 'helm')).toHaveLength(
      applications.length - ownFolders.length,
    );
  });

  it.each(applications.map((application) => [application.metadata.name, application] as const))(
    '%s: the chart at its pinned version, its release name and namespace, its values, CRDs included',
    (_name, application) => {
      const render = renderOf(application, OPTIONS);
      if (render.kind !== 'helm') return;
      const sources = application.spec.sources ?? [application.spec.source!];
      const chart = sources.find((source) => source.chart) ?? sources.find((source) => source.path)!;
      const flag = (name: string) => render.args[render.args.indexOf(name) + 1];
      if (chart.chart) {
        expect(render.args.slice(0, 3)).toEqual(['template', chart.helm?.releaseName, chart.chart]);
        expect([flag('--repo'), flag('--version')]).toEqual([chart.repoURL, chart.targetRevision]);
        expect(render.checkout).toBeUndefined();
      } else {
        // A chart in another git repository: checked out at the pinned commit, rendered from its path there.
        expect(render.checkout).toEqual({
          repoURL: chart.repoURL,
          revision: chart.targetRevision,
          dir: `/tmp/charts/${application.metadata.name}`,
        });
        expect(render.args.slice(0, 3)).toEqual([
          'template',
          chart.helm?.releaseName,
          `/tmp/charts/${application.metadata.name}/${chart.path}`,
        ]);
        expect(render.args).not.toContain('--repo');
      }
      expect(flag('--namespace')).toBe(application.spec.destination.namespace);
      expect(render.args).toEqual(
        expect.arrayContaining([
          '--include-crds',
          '--kube-version',
          '1.36.1',
          '--api-versions',
          'monitoring.coreos.com/v1',
        ]),
      );
      const valueFiles = render.args.flatMap((arg, index) =>
        arg === '--values' ? [render.args[index + 1]] : [],
      );
      if (chart.helm?.valuesObject) {
        expect(valueFiles).toEqual(['/tmp/values.yaml']);
        expect(render.valuesObject).toEqual(chart.helm.valuesObject);
      } else {
        expect(valueFiles.length).toBeGreaterThan(0);
        for (const file of valueFiles)
          expect([file, existsSync(join(REPO_ROOT, file))]).toEqual([file, true]);
      }
    },
  );

  it('refuses a chart from another git repository read at a branch (Argo CD would render whatever it is now)', () => {
    const gitChart = applications.find(
      (application) =>
        application.spec.source?.path && !application.spec.source.repoURL.includes('opsforge/opsforge'),
    );
    const moving = structuredClone(gitChart ?? applications[0]);
    moving.spec.source = {
      repoURL: 'https://github.com/someone/operator.git',
      path: 'charts/operator',
      targetRevision: 'main',
      helm: { releaseName: 'operator' },
    };
    delete moving.spec.sources;
    expect(() => renderOf(moving, OPTIONS)).toThrow('is read at main, not at a commit');
  });

  it('refuses a value file read from another repository (it would not be what Argo CD renders)', () => {
    const loki = applications.find((application) => application.metadata.name === 'loki')!;
    const elsewhere = structuredClone(loki);
    elsewhere.spec.sources!.find((source) => source.ref)!.repoURL = 'https://github.com/someone/else.git';
    expect(() => renderOf(elsewhere, OPTIONS)).toThrow('names ref values, which is not this repository');
  });
});
