// The observability specs' Prometheus: @opsforge/harness' launcher with every PrometheusRule group of this tree
// loaded, scraping and evaluating every second.
import { PrometheusServer, type ScrapeTarget } from '@opsforge/harness';
import { extractRuleFiles, loadPrometheusRuleFiles } from './prometheus-rules';

/** `targets` scraped every second, every rule group evaluated every second (the 30-day one too). */
export function startPrometheus(targets: ScrapeTarget[]): Promise<PrometheusServer> {
  return PrometheusServer.start({
    scrapeIntervalMs: 1000,
    targets,
    // Every group at the global second, the slow 30-day group too: its 2m30s would outlast the tests.
    ruleFiles: (workDir) =>
      extractRuleFiles(
        workDir,
        loadPrometheusRuleFiles().map((file) => ({
          ...file,
          groups: file.groups.map(({ interval: _slow, ...group }) => group),
        })),
      ),
  });
}
