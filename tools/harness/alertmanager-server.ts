// A real Alertmanager (the Debian package's binary) for a test: loopback only, no gossip, a throw-away work
// directory holding its configuration, its data and whatever files the configuration reads.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalServer, startLocalServer } from './local-server';

export interface AlertmanagerOptions {
  /** The configuration (alertmanager.yaml's text); given the work directory, to place files it reads there. */
  config: (workDir: string) => string;
  timeoutMs?: number;
}

export interface AlertmanagerServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The tail of what it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, wait for the exit, delete the work directory. */
  stop(): Promise<void>;
}

/** Starts Alertmanager on a spare port and resolves once `/-/ready` answers 200 (its output in the error if not). */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerServer> {
  const workDir = mkdtempSync(join(tmpdir(), 'opsforge-alertmanager-'));
  let server: LocalServer;
  try {
    const configFile = join(workDir, 'alertmanager.yaml');
    writeFileSync(configFile, options.config(workDir));
    server = await startLocalServer({
      // Debian's name for the binary.
      binary: 'prometheus-alertmanager',
      args: (port) => [
        `--config.file=${configFile}`,
        `--storage.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // No gossip: a single instance, and no cluster port to collide with other suites.
        '--cluster.listen-address=',
      ],
      readyPath: '/-/ready',
      timeoutMs: options.timeoutMs,
    });
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: server.url,
    output: server.output,
    stop: async () => {
      await server.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
