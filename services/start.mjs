#!/usr/bin/env node
// `npm start`: run the built API and worker side by side against REDIS_URL, as a newcomer's first command.
// Checks first that Redis answers, because both services would otherwise start and only report "not ready".
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const servicesDir = import.meta.dirname;

const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

function redisAnswers(url) {
  return new Promise((resolve) => {
    let target;
    try {
      target = new URL(url);
    } catch {
      resolve(`REDIS_URL ${JSON.stringify(url)} is not a URL`);
      return;
    }
    const socket = net.connect({ host: target.hostname, port: Number(target.port || 6379) });
    const finish = (problem) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(2000, () => finish('no answer within 2 s'));
    socket.once('error', (error) => finish(error.code || error.message));
    // An unauthenticated PING answers +PONG or -NOAUTH: either proves a Redis is listening.
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) =>
      finish(
        /^(\+PONG|-NOAUTH|-ERR)/.test(data.toString()) ? undefined : 'the server did not answer like Redis',
      ),
    );
  });
}

async function main() {
  const problem = await redisAnswers(redisUrl);
  if (problem) {
    const { hostname, port } = URL.canParse(redisUrl) ? new URL(redisUrl) : { hostname: '?', port: '' };
    console.error(
      [
        `No Redis answered at ${hostname}:${port || 6379} (${problem}).`,
        'OpsForge needs Redis 7 or newer. Start one, then run `npm start` again:',
        '  redis-server                      # a local install, or',
        "  docker compose up -d redis        # the repository's Compose stack",
        'or point REDIS_URL at yours, e.g. REDIS_URL=redis://my-redis:6379 npm start',
      ].join('\n'),
    );
    process.exit(1);
  }

  const services = ['api', 'worker'].map((name) => {
    const child = spawn(process.execPath, [path.join(servicesDir, name, 'dist', 'main.js')], {
      stdio: 'inherit',
      env: process.env,
    });
    return { name, child };
  });
  let exiting = false;
  const stopAll = (signal) => {
    for (const { child } of services)
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      exiting = true;
      stopAll(signal);
    });
  }
  let remaining = services.length;
  let worstExitCode = 0;
  for (const { name, child } of services) {
    child.on('exit', (code, signal) => {
      remaining -= 1;
      const exitCode = code ?? (signal ? 1 : 0);
      worstExitCode = Math.max(worstExitCode, exitCode);
      // One service gone means the stack is broken: stop the other rather than leave half of it running.
      if (!exiting) {
        console.error(`${name} exited (${signal ?? `code ${code}`}); stopping the other service`);
        exiting = true;
        stopAll('SIGTERM');
      }
      if (remaining === 0) process.exit(worstExitCode);
    });
  }
}

await main();
