// The real services, built by `npm run build` and started as `node services/<name>/dist/main.js` with the
// environment of docs/architecture.md: one process stands for one pod. A pod gets a Kubernetes-like name
// and pod-template hash, which is how the analysis tells the canary's series from the stable's.
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPort, ManagedProcess } from './processes';
import { REPOSITORY_ROOT } from './manifests';

// k8s.io/apimachinery rand.SafeEncodeString's alphabet: what ReplicaSet hashes and pod suffixes are made of.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function safeRandomString(length: number): string {
  return Array.from({ length }, () => SAFE_ALPHABET[randomInt(SAFE_ALPHABET.length)]).join('');
}

/** A pod-template hash as the Rollout controller labels a ReplicaSet's pods with it. */
export function podTemplateHash(): string {
  return safeRandomString(10);
}

export type ServiceName = 'api' | 'worker';

export interface PodOptions {
  service: ServiceName;
  hash: string;
  /** Extra environment (chaos knobs, version, queue prefix). */
  env: Record<string, string>;
}

export class Pod {
  private constructor(
    readonly name: string,
    readonly service: ServiceName,
    readonly hash: string,
    readonly port: number,
    private readonly process: ManagedProcess,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  static async start(options: PodOptions): Promise<Pod> {
    const entry = join(REPOSITORY_ROOT, 'services', options.service, 'dist', 'main.js');
    if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`npm run build\` first`);
    const port = await freeLoopbackPort();
    const name = `${options.service}-${options.hash}-${safeRandomString(5)}`;
    const child = new ManagedProcess(name, process.execPath, [entry], {
      ...process.env,
      // A rehearsal pod logs warnings only: its request lines would cost CPU the load needs.
      LOG_LEVEL: 'warn',
      // Stopping a pod at the end of a rehearsal should not take the production drain time.
      SHUTDOWN_TIMEOUT_MS: '2000',
      ...options.env,
      PORT: String(port),
    });
    const pod = new Pod(name, options.service, options.hash, port, child);
    try {
      // Readiness (Redis answers) is what puts a pod behind its Service in the cluster.
      await child.waitForHttp(`${pod.url}/ready`, 30_000);
    } catch (error) {
      await child.stop();
      throw error;
    }
    return pod;
  }

  async metricsText(): Promise<string> {
    const response = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.text();
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/** Sum of a counter's samples in Prometheus text format, over the samples whose labels match `labelFilter`. */
export function sumCounter(
  metricsText: string,
  metric: string,
  labelFilter: (labels: string) => boolean = () => true,
): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    const match = new RegExp(`^${metric}(?:\\{([^}]*)\\})? ([^ ]+)`).exec(line);
    if (match && labelFilter(match[1] ?? '')) total += Number(match[2]);
  }
  return total;
}
