import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from '@opsforge/harness';
import { extractRuleFiles, loadPrometheusRuleFiles } from './prometheus-rules';

export interface ScrapeTarget {
  /** host:port on loopback */
  address: string;
  /** Target labels, as the ServiceMonitors would set them in a cluster. */
  labels: Record<string, string>;
}

export interface PrometheusServer {
  url: string;
  /** GET /api/v1/query; resolves with the parsed body whatever its status. */
  query(expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus (the Debian package's binary) on a spare loopback port, scraping `targets` every second and
 * evaluating the PrometheusRule groups every second, with its data in a temporary directory.
 */
export async function startPrometheus(targets: ScrapeTarget[]): Promise<PrometheusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'opsforge-prometheus-'));
  // Every group at the global second, the slow 30-day group too: its 2m30s would outlast the tests.
  const rules = extractRuleFiles(
    dir,
    loadPrometheusRuleFiles().map((file) => ({
      ...file,
      groups: file.groups.map(({ interval: _slow, ...group }) => group),
    })),
  );
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: rules,
    scrape_configs: targets.map((target, index) => ({
      job_name: `target-${index}`,
      static_configs: [{ targets: [target.address], labels: target.labels }],
    })),
  };
  writeFileSync(path.join(dir, 'prometheus.yaml'), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yaml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `Prometheus ready on ${url}`,
      async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
      20_000,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; its output:\n${output}`, { cause: error });
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      return (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    },
    stop,
  };
}
