// A real Prometheus (the Debian package's binary) for one rehearsal: loopback only, a throw-away TSDB,
// and a file-based target list that the rehearsal rewrites as pods come and go, so every target carries
// the labels the ServiceMonitor gives a pod in the cluster.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { formatDuration } from '../lib/duration';
import { freePort } from '@opsforge/harness';
import { ManagedProcess } from './processes';

/** One scrape target: host:port and the labels Prometheus attaches to every series it scrapes from it. */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

export interface PrometheusOptions {
  scrapeIntervalMs: number;
  /** Binary to run; PROMETHEUS_BIN overrides the one on PATH. */
  binary?: string;
}

export class PrometheusServer {
  private targets = new Map<string, ScrapeTarget>();
  private pendingWrite: Promise<void> = Promise.resolve();

  private constructor(
    readonly url: string,
    readonly scrapeIntervalMs: number,
    private readonly process: ManagedProcess,
    private readonly workDir: string,
    private readonly targetsFile: string,
  ) {}

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const binary = options.binary ?? process.env.PROMETHEUS_BIN ?? 'prometheus';
    const workDir = await mkdtemp(join(tmpdir(), 'rehearse-canary-prometheus-'));
    const targetsFile = join(workDir, 'targets.json');
    await writeFile(targetsFile, '[]\n');
    const scrapeInterval = formatDuration(options.scrapeIntervalMs);
    const config = {
      global: {
        scrape_interval: scrapeInterval,
        scrape_timeout: scrapeInterval,
        evaluation_interval: scrapeInterval,
      },
      scrape_configs: [
        {
          // The target labels (job, namespace, service, pod, rollouts_pod_template_hash) come from the file,
          // where the rehearsal writes what the ServiceMonitor's relabelling produces in a cluster.
          job_name: 'rehearsal',
          file_sd_configs: [{ files: [targetsFile], refresh_interval: scrapeInterval }],
        },
      ],
    };
    const configFile = join(workDir, 'prometheus.yml');
    await writeFile(configFile, stringify(config));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = new ManagedProcess(
      'prometheus',
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      process.env,
    );
    const server = new PrometheusServer(url, options.scrapeIntervalMs, child, workDir, targetsFile);
    try {
      await child.waitForHttp(`${url}/-/ready`, 30_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
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
    // Rehearsals running side by side change the list concurrently: one write at a time, each with the
    // whole list as it is when its turn comes.
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
    const deadline = Date.now() + timeoutMs;
    let states = '';
    while (Date.now() < deadline) {
      const response = await fetch(`${this.url}/api/v1/targets?state=active`);
      const body = (await response.json()) as {
        data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
      };
      const byAddress = new Map(
        body.data.activeTargets.map((target) => [new URL(target.scrapeUrl).host, target]),
      );
      if (addresses.every((address) => byAddress.get(address)?.health === 'up')) return;
      states = addresses
        .map(
          (address) =>
            `${address}: ${byAddress.get(address)?.health ?? 'not discovered'} ${byAddress.get(address)?.lastError ?? ''}`,
        )
        .join('; ');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`Prometheus did not scrape every target within ${timeoutMs} ms: ${states}`);
  }

  async stop(): Promise<void> {
    await this.process.stop();
    await rm(this.workDir, { recursive: true, force: true });
  }
}
