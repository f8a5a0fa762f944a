// One real server binary (Prometheus, Alertmanager, the blackbox exporter: the Debian packages' binaries that
// .ci/observability-tools.sh puts on PATH) on a spare loopback port, for a test or a tool: started, waited for
// on its readiness path, stopped; its output's tail kept for a diagnosis. What this process started and has not
// stopped is stopped by jest-cleanup.ts after each test file (a set-up that failed halfway loses its handle, and
// the child's pipes would keep jest from exiting) and killed when the process exits (a crash, an interrupted run).
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface LocalServerOptions {
  /** The binary's name on PATH (or a path). */
  binary: string;
  /** Its arguments, given the loopback port it must listen on. */
  args: (port: number) => string[];
  /** The path that answers 200 once it serves (`/-/ready`, `/-/healthy`). */
  readyPath: string;
  timeoutMs?: number;
  pollMs?: number;
}

export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The tail of what it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once. */
  kill(): void;
}

// Only the tail matters for a diagnosis; a chatty process (a failed probe is logged each time) stays bounded.
const OUTPUT_TAIL_CHARACTERS = 8000;

const running = new Map<LocalServer, ChildProcess>();
process.on('exit', () => {
  for (const child of running.values()) child.kill('SIGKILL');
});

/** Stops every server this process started and has not stopped. */
export async function stopAllLocalServers(): Promise<void> {
  await Promise.all([...running.keys()].map((server) => server.stop()));
}

/** Starts the binary on a spare port and resolves once `readyPath` answers 200 (its output in the error if not). */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(options.binary, options.args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARACTERS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      // `spawn … ENOENT`: the binary is not on PATH.
      exit = error.message;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
  });
  const server: LocalServer = {
    url,
    output: () => output,
    kill: () => child.kill('SIGKILL'),
    stop: async (graceMs = 5000) => {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killTimer);
    },
  };
  running.set(server, child);
  void exited.then(() => running.delete(server));
  try {
    const state = await waitFor(
      `${options.binary} ready on ${url}`,
      async () => {
        // Exited: stop polling at once instead of waiting out the timeout.
        if (exit !== undefined) return 'exited';
        const answer = await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(1000) });
        await answer.arrayBuffer();
        return answer.ok && 'ready';
      },
      options.timeoutMs ?? 15_000,
      options.pollMs,
    );
    if (state === 'exited') {
      const hint = exit?.includes('ENOENT')
        ? ' (.ci/observability-tools.sh --print-bin puts it on PATH)'
        : '';
      throw new Error(`${options.binary} ${exit}${hint}`);
    }
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}; its output:\n${output.trim()}`, { cause: error });
  }
  return server;
}
