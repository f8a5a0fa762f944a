// The two things the e2e cluster reaches on the runner itself:
//   - the repository under test over git's smart HTTP protocol (`git http-backend`), because Argo CD must
//     sync this pull request's commit and the commits the e2e makes, which GitHub will not accept from a
//     read-only job. Argo CD's repo-server lists refs with go-git, which speaks smart HTTP only, so a static
//     ("dumb") server would not do;
//   - the alert receivers: every POST to /receivers/<name> is recorded, so the e2e can prove a test alert
//     reached the receiver our Alertmanager config routes it to (GET /received lists them).
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedNotification {
  path: string;
  body: string;
}

export interface HostServer {
  server: Server;
  port: number;
  received: ReceivedNotification[];
  close(): Promise<void>;
}

/** Serves every bare repository under `projectRoot` (fetch and push) and records alert notifications. */
export async function startHostServer(projectRoot: string, host: string, port: number): Promise<HostServer> {
  const received: ReceivedNotification[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://host');
    if (url.pathname.startsWith('/receivers/') && request.method === 'POST') {
      readBody(request).then(
        (body) => {
          received.push({ path: url.pathname, body: body.toString('utf8') });
          response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        },
        (error: Error) => response.writeHead(400).end(error.message),
      );
    } else if (url.pathname === '/received' && request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    } else if (/\.git(\/|$)/.test(url.pathname)) {
      gitHttpBackend(projectRoot, request, response, url);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** git http-backend as a CGI program (git-http-backend(1)): request in on stdin, CGI headers + body out. */
function gitHttpBackend(projectRoot: string, request: IncomingMessage, response: ServerResponse, url: URL) {
  const backend = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      // Pushes are allowed without authentication: the server listens only where the kind cluster and the
      // runner reach it, and lives as long as the job.
      REMOTE_USER: 'e2e',
      REQUEST_METHOD: request.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: request.headers['content-type'] ?? '',
      HTTP_CONTENT_ENCODING: request.headers['content-encoding'] ?? '',
      GIT_PROTOCOL: String(request.headers['git-protocol'] ?? ''),
      REMOTE_ADDR: request.socket.remoteAddress ?? '',
    },
  });
  request.pipe(backend.stdin);
  let head = Buffer.alloc(0);
  let headersSent = false;
  backend.stdout.on('data', (chunk: Buffer) => {
    if (headersSent) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else response.setHeader(name, value);
    }
    response.writeHead(status);
    headersSent = true;
    response.write(head.subarray(end + 4));
  });
  backend.stderr.on('data', (chunk: Buffer) => process.stderr.write(`git http-backend: ${chunk.toString()}`));
  backend.on('close', (code) => {
    if (!headersSent) response.writeHead(code === 0 ? 200 : 500);
    response.end();
  });
}
