// A real Alertmanager (the Debian package's binary) for a test: loopback only, no gossip, a throw-away work
// directory holding its configuration, its data and whatever files the configuration reads.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface AlertmanagerOptions {
  /** The configuration (alertmanager.yaml's text); given the work directory, to place files it reads there. */
  config: (workDir: string) => string;
  timeoutMs?: number;
}

export interface AlertmanagerServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, wait for the exit, delete the work directory. */
  stop(): Promise<void>;
}

/** Starts Alertmanager on a spare port and resolves once `/-/ready` answers 200 (its output in the error if not). */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerServer> {
  const workDir = mkdtempSync(join(tmpdir(), 'opsforge-alertmanager-'));
  let child: ChildProcess | undefined;
  let output = '';
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const configFile = join(workDir, 'alertmanager.yaml');
    writeFileSync(configFile, options.config(workDir));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawn(
      // Debian's name for the binary (.ci/observability-tools.sh puts it on PATH).
      'prometheus-alertmanager',
      [
        `--config.file=${configFile}`,
        `--storage.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // No gossip: a single instance, and no cluster port to collide with other suites.
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(
      `Alertmanager ready on ${url}`,
      async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
      options.timeoutMs ?? 15_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its output:\n${output}`, { cause: error });
    });
    return { url, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
