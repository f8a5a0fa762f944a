import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { CONFIG } from '@opsforge/common';
import type { ApiConfig } from './config';
import type { FastifyInstance } from 'fastify';

/**
 * Keep-alive connections must not hold a draining API open. Node's `server.close()` (which Fastify's `close()`
 * calls, and which calls `closeIdleConnections()` itself) closes only the connections idle at that moment; one
 * that was busy finishes its response and then stays open, idle, until the client closes it, which a gateway or
 * any pooling client does only after minutes. Fastify's own `return503OnClosing` and `forceCloseConnections:
 * 'idle'` act on requests that *arrive* after `close()` and on sockets idle *at* `close()`, so neither covers it.
 *
 * So from the moment draining starts (SIGTERM, the same moment /ready turns 503) every response says
 * `Connection: close`, and Node closes its socket once it is sent: the server closes as soon as the last
 * in-flight request is answered. Whatever is still open when SHUTDOWN_TIMEOUT_MS runs out (a request slower
 * than the bound) is cut with `closeAllConnections()`, so the process still exits 0 before the watchdog.
 */
@Injectable()
export class ConnectionDrain implements OnModuleDestroy {
  private readonly logger = new Logger('Shutdown');
  private fastify: FastifyInstance | undefined;
  private draining = false;

  constructor(@Inject(CONFIG) private readonly config: ApiConfig) {}

  /** Called once with the Fastify instance, before the application listens. */
  attach(fastify: FastifyInstance): void {
    this.fastify = fastify;
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (this.draining) void reply.header('connection', 'close');
      done(null, payload);
    });
  }

  onModuleDestroy(): void {
    this.draining = true;
    const server = this.fastify?.server;
    if (!server) return;
    const bound = setTimeout(() => {
      this.logger.warn(
        `requests still in flight after SHUTDOWN_TIMEOUT_MS (${this.config.SHUTDOWN_TIMEOUT_MS} ms): closing their connections`,
      );
      server.closeAllConnections();
    }, this.config.SHUTDOWN_TIMEOUT_MS);
    bound.unref();
    server.once('close', () => clearTimeout(bound));
  }
}
