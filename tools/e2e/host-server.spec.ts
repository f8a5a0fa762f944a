import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/gitops-repo';

// The e2e's git remote and alert sink, started as the workflow starts it (`npm run e2e -- serve`), and used
// with real git the way Argo CD and the e2e use it: ls-remote, clone, push.
describe('the e2e host server (npm run e2e -- serve)', () => {
  let scratch: string;
  let server: ChildProcess;
  let base: string;
  const git = (cwd: string, ...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', '-c', 'protocol.version=2', ...args],
      {
        cwd,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ).trim();

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'e2e-host-'));
    const work = join(scratch, 'work');
    execFileSync('git', ['init', '-q', '-b', 'main', work]);
    writeFileSync(join(work, 'README.md'), 'first\n');
    git(work, 'add', '.');
    git(work, 'commit', '-qm', 'first');
    execFileSync('git', ['clone', '-q', '--bare', work, join(scratch, 'projects', 'opsforge.git')]);
    server = spawn(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [
        'tools/e2e/main.ts',
        'serve',
        '--projects',
        join(scratch, 'projects'),
        '--host',
        '127.0.0.1',
        '--port',
        '0',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    base = await new Promise<string>((resolve, reject) => {
      let output = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /serving on (\S+)/.exec(output);
        if (match) resolve(`http://${match[1]}`);
      });
      server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
    });
  });

  afterAll(() => {
    server.kill();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('serves the repository over smart HTTP: ls-remote, clone, and a push that the next ls-remote sees', () => {
    const url = `${base}/opsforge.git`;
    const before = git(scratch, 'ls-remote', url, 'refs/heads/main').split('\t')[0];
    expect(before).toMatch(/^[0-9a-f]{40}$/);
    const clone = join(scratch, 'clone');
    git(scratch, 'clone', '-q', url, clone);
    writeFileSync(join(clone, 'README.md'), 'second\n');
    git(clone, 'commit', '-qam', 'second');
    git(clone, 'push', '-q', 'origin', 'main');
    const after = git(scratch, 'ls-remote', url, 'refs/heads/main').split('\t')[0];
    expect(after).toBe(git(clone, 'rev-parse', 'HEAD'));
    expect(after).not.toBe(before);
  });

  it('records what reaches /receivers/<name> and lists it at /received', async () => {
    const posted = await fetch(`${base}/receivers/slack-api-webhook-url`, {
      method: 'POST',
      body: '{"text":"OpsforgeE2eTestAlert"}',
    });
    expect(posted.status).toBe(200);
    const received = (await (await fetch(`${base}/received`)).json()) as unknown;
    expect(received).toEqual([
      { path: '/receivers/slack-api-webhook-url', body: '{"text":"OpsforgeE2eTestAlert"}' },
    ]);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
  });
});
