// A real Prometheus (the Debian package's binary) for a test or a tool: loopback only, a throw-away TSDB, a
// file-based target list that can change while it runs (a rehearsal's pods come and go), so every target carries
// the labels its ServiceMonitor would give it in a cluster, and optionally rule files to evaluate.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { formatDuration } from '../lib/duration';
import { type LocalServer, startLocalServer } from './local-server';
import { waitFor } from './wait';

/** One scrape target: host:port and the labels Prometheus attaches to every series it scrapes from it. */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

export interface PrometheusOptions {
  /** Scrape and rule evaluation interval (a rehearsal divides production's 15 s by its time scale). */
  scrapeIntervalMs: number;
  /** Targets scraped from the start; `addTarget`/`removeTarget` change the list later. */
  targets?: ScrapeTarget[];
  /** Writes rule files into Prometheus' work directory (given) and returns their paths. */
  ruleFiles?: (workDir: string) => string[];
  /** The scrape job's name: the `job` label of every target whose labels do not set one. */
  jobName?: string;
  /** Binary to run; PROMETHEUS_BIN overrides the one on PATH. */
  binary?: string;
}

export interface QueryAnswer {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

export class PrometheusServer {
  private readonly targets = new Map<string, ScrapeTarget>();
  private pendingWrite: Promise<void> = Promise.resolve();
  private server: LocalServer | undefined;

  private constructor(
    readonly scrapeIntervalMs: number,
    private readonly workDir: string,
    private readonly targetsFile: string,
  ) {}

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    if (!this.server) throw new Error('Prometheus is not started');
    return this.server.url;
  }

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const workDir = await mkdtemp(join(tmpdir(), 'opsforge-prometheus-'));
    const prometheus = new PrometheusServer(options.scrapeIntervalMs, workDir, join(workDir, 'targets.json'));
    try {
      const interval = formatDuration(options.scrapeIntervalMs);
      const config = {
        global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
        rule_files: options.ruleFiles?.(workDir) ?? [],
        scrape_configs: [
          {
            job_name: options.jobName ?? 'opsforge',
            file_sd_configs: [{ files: [prometheus.targetsFile], refresh_interval: interval }],
          },
        ],
      };
      const configFile = join(workDir, 'prometheus.yml');
      await writeFile(configFile, stringify(config));
      for (const target of options.targets ?? []) prometheus.targets.set(target.address, target);
      await prometheus.writeTargets();
      prometheus.server = await startLocalServer({
        binary: options.binary ?? process.env.PROMETHEUS_BIN ?? 'prometheus',
        args: (port) => [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(workDir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        readyPath: '/-/ready',
        timeoutMs: 30_000,
        pollMs: 100,
      });
    } catch (error) {
      await prometheus.stop();
      throw error;
    }
    return prometheus;
  }

  async addTarget(target: ScrapeTarget): Promise<void> {
    this.targets.set(target.address, target);
    await this.writeTargets();
  }

  async removeTarget(address: string): Promise<void> {
    this.targets.delete(address);
    await this.writeTargets();
  }

  private writeTargets(): Promise<void> {
    // Callers running side by side change the list concurrently: one write at a time, each with the whole
    // list as it is when its turn comes.
    const write = async () => {
      const groups = [...this.targets.values()].map((target) => ({
        targets: [target.address],
        labels: target.labels,
      }));
      // Prometheus watches the file: write a sibling and rename so it never reads a half-written list.
      const staging = `${this.targetsFile}.tmp`;
      await writeFile(staging, JSON.stringify(groups, null, 2));
      await rename(staging, this.targetsFile);
    };
    const next = this.pendingWrite.then(write, write);
    this.pendingWrite = next;
    return next;
  }

  /** Resolves once Prometheus reports every target in `addresses` as scraped successfully (health "up"). */
  async waitForTargetsUp(addresses: string[], timeoutMs: number): Promise<void> {
    let states = '';
    try {
      await waitFor(
        'every target up',
        async () => {
          const response = await fetch(`${this.url}/api/v1/targets?state=active`);
          const body = (await response.json()) as {
            data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
          };
          const byAddress = new Map(
            body.data.activeTargets.map((target) => [new URL(target.scrapeUrl).host, target]),
          );
          states = addresses
            .map(
              (address) =>
                `${address}: ${byAddress.get(address)?.health ?? 'not discovered'} ${byAddress.get(address)?.lastError ?? ''}`,
            )
            .join('; ');
          return addresses.every((address) => byAddress.get(address)?.health === 'up');
        },
        timeoutMs,
        200,
      );
    } catch {
      throw new Error(`Prometheus did not scrape every target within ${timeoutMs} ms: ${states}`);
    }
  }

  /** GET /api/v1/query; resolves with the parsed body whatever its status. */
  async query(expr: string): Promise<QueryAnswer> {
    const response = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    return (await response.json()) as QueryAnswer;
  }

  /** SIGTERM, then SIGKILL if Prometheus has not exited within `graceMs`; its data is deleted. */
  async stop(graceMs = 5000): Promise<void> {
    await this.server?.stop(graceMs);
    await rm(this.workDir, { recursive: true, force: true });
  }
}
