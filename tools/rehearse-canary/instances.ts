// The real services, started by the services' test support (`node services/<name>/dist/main.js`, built
// first if out of date) with the environment of docs/architecture.md: one process stands for one pod. A pod
// gets a Kubernetes-like name and pod-template hash, which is how the analysis tells the canary's series
// from the stable's.
import { randomInt } from 'node:crypto';
import { startService, type RunningService, type ServiceName } from '@opsforge/harness';
import { killWithThisProcess } from './processes';

// k8s.io/apimachinery rand.SafeEncodeString's alphabet: what ReplicaSet hashes and pod suffixes are made of.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function safeRandomString(length: number): string {
  return Array.from({ length }, () => SAFE_ALPHABET[randomInt(SAFE_ALPHABET.length)]).join('');
}

/** A pod-template hash as the Rollout controller labels a ReplicaSet's pods with it. */
export function podTemplateHash(): string {
  return safeRandomString(10);
}

export interface PodOptions {
  service: ServiceName;
  hash: string;
  /** Extra environment (chaos knobs, version, queue prefix, Redis). */
  env: Record<string, string>;
}

export class Pod {
  private constructor(
    readonly name: string,
    readonly service: ServiceName,
    readonly hash: string,
    private readonly running: RunningService,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.running.port}`;
  }

  get url(): string {
    return this.running.url;
  }

  /** Starts the built service and resolves once /ready answers (Redis reachable), as a pod joins its Service. */
  static async start(options: PodOptions): Promise<Pod> {
    const running = await startService(options.service, {
      env: {
        // A rehearsal pod logs warnings only: its request lines would cost CPU the load needs.
        LOG_LEVEL: 'warn',
        // Stopping a pod at the end of a rehearsal should not take the production drain time.
        SHUTDOWN_TIMEOUT_MS: '2000',
        ...options.env,
      },
      // Generous: on a shared, loaded machine a cold start can take tens of seconds; it is not what is measured.
      timeoutMs: 90_000,
    });
    killWithThisProcess(running.process);
    return new Pod(
      `${options.service}-${options.hash}-${safeRandomString(5)}`,
      options.service,
      options.hash,
      running,
    );
  }

  async metricsText(): Promise<string> {
    const response = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.text();
  }

  async stop(): Promise<void> {
    await this.running.stop();
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
