// A real Prometheus blackbox exporter (the Debian package's binary, .ci/observability-tools.sh puts it on PATH)
// for a test: loopback only, the given configuration file. A test asks it to probe as Prometheus does, with
// GET /probe?module=…&target=…, and reads probe_success from the answer.
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface BlackboxExporterOptions {
  /** The exporter's configuration file (blackbox.yaml: `modules:`). */
  configFile: string;
  timeoutMs?: number;
}

export interface BlackboxExporter {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** What it wrote to stdout and stderr so far (the tail): its log names why a probe failed. */
  output(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** The binary's Debian name. */
export const BLACKBOX_EXPORTER_BINARY = 'prometheus-blackbox-exporter';

// Exporters this test process started and has not stopped: jest-cleanup.ts stops them after each test file (a
// set-up that failed halfway loses its handle, and the child's pipes would keep jest from exiting), and a crash
// or an interrupted run kills them with the process.
const running = new Set<BlackboxExporter>();
const children = new Map<BlackboxExporter, ChildProcess>();
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL');
});

/** Stops every exporter still running. */
export async function stopAllBlackboxExporters(): Promise<void> {
  await Promise.all([...running].map((exporter) => exporter.stop()));
}

/** Starts the exporter on a spare port and resolves once `/-/healthy` answers 200 (its output in the error if not). */
export async function startBlackboxExporter(options: BlackboxExporterOptions): Promise<BlackboxExporter> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child = spawn(
    BLACKBOX_EXPORTER_BINARY,
    [`--config.file=${options.configFile}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    // Only the tail matters for a diagnosis; it logs every failed probe, so bound the memory.
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      exit = error.message;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
  });
  const exporter: BlackboxExporter = {
    url,
    output: () => output,
    stop: async () => {
      if (exit === undefined) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  running.add(exporter);
  children.set(exporter, child);
  void exited.then(() => {
    running.delete(exporter);
    children.delete(exporter);
  });
  try {
    const died = exited.then(() => {
      // `spawn … ENOENT`: the binary is not on PATH.
      throw new Error(
        `${BLACKBOX_EXPORTER_BINARY} ${exit} (.ci/observability-tools.sh --print-bin puts it on PATH)`,
      );
    });
    await Promise.race([
      died,
      waitFor(
        `the blackbox exporter healthy on ${url}`,
        async () => {
          // Died: `died` has failed the start already; stop polling.
          if (exit !== undefined) return true;
          const answer = await fetch(`${url}/-/healthy`, { signal: AbortSignal.timeout(1000) });
          await answer.arrayBuffer();
          return answer.ok;
        },
        options.timeoutMs ?? 15_000,
      ),
    ]);
  } catch (error) {
    await exporter.stop();
    throw new Error(`${(error as Error).message}; its output:\n${output.trim()}`, { cause: error });
  }
  return exporter;
}
