import { createServer } from 'node:net';

/**
 * A port nothing listens on at 127.0.0.1 right now. The OS picks it (bind to 0) and it is released at once, so a
 * caller can hand it to a process that needs an explicit port (redis-server refuses `--port 0`).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || address === null) {
        server.close();
        reject(new Error('could not read the port the OS assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
