import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/gitops-repo';
import { loadPlatformApplications, renderOf } from './platform-apps';

const OPTIONS = {
  repoURL: 'https://github.com/opsforge/opsforge.git',
  kubeVersion: '1.36.1',
  apiVersions: ['monitoring.coreos.com/v1'],
  valuesFile: '/tmp/values.yaml',
};

// What the platform workflow runs for each real Application in argocd/platform (helm itself runs on GitHub).
describe('rendering the platform Applications as Argo CD would', () => {
  const applications = loadPlatformApplications(REPO_ROOT);
  const renders = applications.map((application) => renderOf(application, OPTIONS));

  it('covers every Application in argocd/platform, charts with helm and this repository with kustomize', () => {
    expect(renders.map((render) => `${render.app}:${render.kind}`).sort()).toEqual(
      applications
        .map(
          (application) =>
            `${application.metadata.name}:${application.spec.source?.path || application.spec.sources?.some((s) => s.path) ? 'kustomize' : 'helm'}`,
        )
        .sort(),
    );
    expect(
      renders
        .filter((render) => render.kind === 'kustomize')
        .map((render) => render.kind === 'kustomize' && render.path),
    ).toEqual(['observability']);
  });

  it.each(applications.map((application) => [application.metadata.name, application] as const))(
    '%s: the chart at its pinned version, its release name and namespace, its values, CRDs included',
    (_name, application) => {
      const render = renderOf(application, OPTIONS);
      if (render.kind !== 'helm') return;
      const chart = (application.spec.sources ?? [application.spec.source!]).find((source) => source.chart)!;
      const flag = (name: string) => render.args[render.args.indexOf(name) + 1];
      expect(render.args.slice(0, 3)).toEqual(['template', chart.helm?.releaseName, chart.chart]);
      expect([flag('--repo'), flag('--version'), flag('--namespace')]).toEqual([
        chart.repoURL,
        chart.targetRevision,
        application.spec.destination.namespace,
      ]);
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

  it('refuses a value file read from another repository (it would not be what Argo CD renders)', () => {
    const loki = applications.find((application) => application.metadata.name === 'loki')!;
    const elsewhere = structuredClone(loki);
    elsewhere.spec.sources!.find((source) => source.ref)!.repoURL = 'https://github.com/someone/else.git';
    expect(() => renderOf(elsewhere, OPTIONS)).toThrow('names ref values, which is not this repository');
  });
});
