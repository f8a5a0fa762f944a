import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureServicesBuilt, freePort, testQueue, waitFor } from '@opsforge/harness';

// `npm start` as a newcomer meets it: the runtime check before anything else, and what the two services' output
// looks like at a terminal and in a pipe.
const startScript = join(__dirname, 'start.mjs');
const queue = testQueue('npm-start');

// The machine's own Node, when it is older than the one the repository needs (Debian's is 20 here).
const systemNode = '/usr/bin/node';
const systemNodeMajor = existsSync(systemNode)
  ? Number(spawnSync(systemNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout)
  : undefined;
const itWithAnOldNode = systemNodeMajor !== undefined && systemNodeMajor < 24 ? it : it.skip;

const ansiEscapes = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

interface Started {
  child: ChildProcess;
  output: () => string;
}

async function startStack(command: string, args: string[]): Promise<Started> {
  const env = {
    ...process.env,
    ...queue.env,
    API_PORT: String(await freePort()),
    WORKER_PORT: String(await freePort()),
  };
  // Its own process group, so that the whole stack (and `script`'s pseudo-terminal) is stopped together.
  const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

function bothListening(stack: Started): Promise<unknown> {
  return waitFor(
    'both services to log that they listen',
    () => /worker probes and metrics listening/.test(stack.output()) && /api listening/.test(stack.output()),
    60_000,
  );
}

async function stopStack({ child }: Started): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  process.kill(-child.pid!, 'SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

beforeAll(() => ensureServicesBuilt());
afterAll(() => queue.deleteKeys());

describe('npm start', () => {
  itWithAnOldNode(
    `on Node.js ${systemNodeMajor} says in one line what is needed and how to get it, before building anything`,
    () => {
      const run = spawnSync(systemNode, [startScript, '--preflight'], { encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^OpsForge needs Node\.js 24 or newer .* this is Node\.js 20\./);
      expect(lines[0]).toContain('nvm install');
      expect(run.stderr).not.toMatch(/TypeError|at .*:\d+:\d+/);
    },
  );

  it('at a terminal, shows one readable line per log line, named by service', async () => {
    // `script` gives the stack a pseudo-terminal, as a person's shell would.
    const stack = await startStack('script', [
      '-qefc',
      `"${process.execPath}" "${startScript}"`,
      '/dev/null',
    ]);
    try {
      await bothListening(stack);
      const text = stack.output().replace(ansiEscapes, '');
      expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: api api listening on port \d+/m);
      expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: worker worker probes and metrics listening/m);
      expect(text).not.toMatch(/^\{"level"/m);
    } finally {
      await stopStack(stack);
    }
  });

  it('in a pipe, writes the JSON lines production writes, and stops both services with exit 0', async () => {
    const stack = await startStack(process.execPath, [startScript]);
    try {
      await bothListening(stack);
      const lines = stack
        .output()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { app: string; level: string; msg: string });
      expect(lines).toContainEqual(
        expect.objectContaining({
          app: 'api',
          level: 'info',
          msg: expect.stringMatching(/^api listening on port/),
        }),
      );
      expect(new Set(lines.map((line) => line.app))).toEqual(new Set(['api', 'worker']));
    } finally {
      expect(await stopStack(stack)).toBe(0);
    }
  });
});
