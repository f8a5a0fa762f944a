// The rehearsal's own child processes (its pods, instances.ts, and its Jobs, job-provider.ts) never outlive it.
// Prometheus is started by @opsforge/harness, which stops its own the same way.
import type { ChildProcess } from 'node:child_process';

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
