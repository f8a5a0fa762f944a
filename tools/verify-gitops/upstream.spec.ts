import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify } from 'yaml';
import { isMapping } from '../lib/kubernetes';
import { mappingAt, present } from './rules/broken-trees';
import { LedgerError, loadLedger, parseLedger, UPSTREAM_LEDGER_PATH } from './upstream';

const ledgerText = readFileSync(UPSTREAM_LEDGER_PATH, 'utf8');

/** The repository's ledger with one change applied to its parsed form, as text again. */
function broken(change: (ledger: Record<string, unknown>) => void): string {
  const parsed: unknown = parseYaml(ledgerText);
  const ledger = present(isMapping(parsed) ? parsed : undefined, 'ledger mapping');
  change(ledger);
  return stringify(ledger);
}

function problemsOf(text: string): string {
  try {
    parseLedger(text);
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerError);
    return (error as Error).message;
  }
  throw new Error('the broken ledger was accepted');
}

describe('the upstream ledger', () => {
  it('is valid: every entry has its upstream source and a stated fact', () => {
    const ledger = loadLedger();
    expect(ledger.sections).toEqual(expect.arrayContaining(['argo', 'platform', 'observability']));
    for (const entries of [ledger.charts, ledger.images, ledger.plugins, ledger.tools, ledger.behaviours]) {
      for (const entry of Object.values(entries)) {
        expect(entry.source.repository).toMatch(/\//);
        expect(entry.fact.length).toBeGreaterThan(10);
      }
    }
  });

  it('flattens sections so a rule finds a fact by id, and says which fact is missing', () => {
    const ledger = loadLedger();
    expect(ledger.charts['kube-prometheus-stack']?.section).toBe('platform');
    expect(ledger.behaviour('gatewayapi-plugin-argocd-ignore-rule').data).toMatchObject({
      kind: 'HTTPRoute',
    });
    expect(() => ledger.behaviour('no-such-behaviour')).toThrow(/records no behaviour "no-such-behaviour"/);
  });

  it('refuses a pinned chart version whose release was not seen upstream', () => {
    const text = broken((l) => {
      const chart = mappingAt(l, 'platform.charts.kube-prometheus-stack');
      chart.version = '81.4.5';
      mappingAt(chart, 'source').tag = 'kube-prometheus-stack-81.4.5';
    });
    expect(problemsOf(text)).toMatch(
      /platform\.charts\.kube-prometheus-stack\.version: version must be one of released/,
    );
  });

  it('refuses a chart whose source was read at another tag than the pinned version', () => {
    const text = broken((l) => {
      mappingAt(l, 'platform.charts.kube-prometheus-stack.source').tag = 'kube-prometheus-stack-81.5.0';
    });
    expect(problemsOf(text)).toMatch(/source\.tag: source\.tag must be the release tag of version/);
  });

  it('refuses an entry without its source, a source without a tag, and a misspelt key', () => {
    const text = broken((l) => {
      delete mappingAt(l, 'argo.behaviours.gatewayapi-plugin-argocd-ignore-rule').source;
      delete mappingAt(l, 'argo.charts.argo-rollouts.source').tag;
      mappingAt(l, 'argo.plugins.gateway-api-traffic-router').verison = 'v0.13.0';
    });
    const problems = problemsOf(text);
    expect(problems).toMatch(/argo\.behaviours\.gatewayapi-plugin-argocd-ignore-rule\.source/);
    expect(problems).toMatch(/argo\.charts\.argo-rollouts\.source\.tag/);
    expect(problems).toMatch(/argo\.plugins\.gateway-api-traffic-router: Unrecognized key: "verison"/);
  });

  it('refuses a repository that is not owner/name and an unknown kind of entry', () => {
    const text = broken((l) => {
      mappingAt(l, 'argo.plugins.gateway-api-traffic-router.source').repository =
        'https://github.com/argoproj-labs/x';
      mappingAt(l, 'argo').helmCharts = {};
    });
    const problems = problemsOf(text);
    expect(problems).toMatch(/gateway-api-traffic-router\.source\.repository: must be owner\/name/);
    expect(problems).toMatch(/argo: Unrecognized key: "helmCharts"/);
  });

  it('refuses the same id in two sections', () => {
    const text = broken((l) => {
      l.observability = { charts: { 'argo-rollouts': mappingAt(l, 'argo.charts.argo-rollouts') } };
    });
    expect(problemsOf(text)).toMatch(/charts "argo-rollouts" is in both argo and observability/);
  });
});
