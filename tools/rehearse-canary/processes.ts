// Child processes of a rehearsal that are not services (Prometheus): started on a loopback port, waited
// for over HTTP, and always stopped, with their last output kept for the error message when one dies early.
// The API and worker pods are started by the services' own test support (instances.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

// Children still running when this process exits (a crash, an interrupted test run) are killed with it:
// a rehearsal pod or Prometheus must never outlive the rehearsal.
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** Kills `child` if this process exits first; forgets it once it has exited. */
export function killWithThisProcess(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

export class ManagedProcess {
  private output = '';
  private exited = false;
  private exitDescription = '';
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    killWithThisProcess(this.child);
    const keep = (chunk: Buffer) => {
      // Only the tail matters for a diagnosis; bound the memory of a chatty process.
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('error', (error) => {
      this.exited = true;
      this.exitDescription = error.message;
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
  }

  /** Polls `url` until it answers 2xx; fails early, with the process' last output, if the process dies. */
  async waitForHttp(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exited)
        throw new Error(
          `${this.name} ${this.exitDescription} before ${url} answered:\n${this.output.trim()}`,
        );
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await response.arrayBuffer();
        if (response.ok) return;
        lastProblem = `HTTP ${response.status}`;
      } catch (error) {
        lastProblem = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(
      `${this.name} did not answer ${url} within ${timeoutMs} ms (${lastProblem}):\n${this.output.trim()}`,
    );
  }

  /** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const killTimer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(killTimer);
  }
}
