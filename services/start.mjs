#!/usr/bin/env node
// `npm start`: run the built API and worker side by side against REDIS_URL, as a newcomer's first command.
// `npm run prestart` (this file with --preflight, before the build) checks what would otherwise fail later with a
// confusing message: a Node.js too old for the services, and a Redis that does not answer.
//
// Only syntax and APIs old Node versions have up to the version check, so that it can say what is wrong.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const servicesDir = path.dirname(fileURLToPath(import.meta.url));
const repositoryRoot = path.join(servicesDir, '..');

function nodeVersionProblem() {
  const required = JSON.parse(readFileSync(path.join(repositoryRoot, 'package.json'), 'utf8')).engines.node;
  const requiredMajor = Number(/\d+/.exec(required)[0]);
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= requiredMajor) return undefined;
  return (
    `OpsForge needs Node.js ${requiredMajor} or newer (package.json engines "${required}"); this is Node.js ` +
    `${process.versions.node} at ${process.execPath}. Install it (\`nvm install\` reads .nvmrc, or ` +
    'https://nodejs.org/en/download) and run `npm start` again.'
  );
}

const nodeProblem = nodeVersionProblem();
if (nodeProblem) {
  console.error(nodeProblem);
  process.exit(1);
}
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

async function preflight() {
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
}

// For a person at a terminal, each service's JSON lines become one readable line each (pino-pretty, a
// devDependency: absent from a production install, where the lines stay JSON). Piped or redirected output stays
// the JSON lines production writes, so `npm start | jq` and log files see exactly what Loki would.
function readableOutput() {
  if (!process.stdout.isTTY) return undefined;
  try {
    return createRequire(import.meta.url)('pino-pretty');
  } catch {
    return undefined;
  }
}

const defaultPorts = { api: 3000, worker: 3001 };

function start() {
  const pretty = readableOutput();
  const services = ['api', 'worker'].map((name) => {
    // npm start's own API_PORT and WORKER_PORT, because one PORT cannot serve both processes.
    const port = process.env[`${name.toUpperCase()}_PORT`] || String(defaultPorts[name]);
    const child = spawn(process.execPath, [path.join(servicesDir, name, 'dist', 'main.js')], {
      stdio: ['inherit', pretty ? 'pipe' : 'inherit', 'inherit'],
      env: { ...process.env, PORT: port },
    });
    if (pretty)
      child.stdout.pipe(
        pretty({
          colorize: true,
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,app,context',
          messageFormat: `${name} {if context}{context}: {end}{msg}`,
          destination: 1,
          sync: true,
        }),
      );
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
    child.on('close', (code, signal) => {
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

if (process.argv.includes('--preflight')) await preflight();
else start();
