import { Injectable, type OnModuleDestroy } from '@nestjs/common';

/**
 * Whether the service is shutting down. Nest calls onModuleDestroy first on SIGTERM, so /ready answers 503 from
 * then on and the load balancer stops sending new work while in-flight requests and active jobs finish.
 */
@Injectable()
export class LifecycleState implements OnModuleDestroy {
  private shuttingDown = false;

  get draining(): boolean {
    return this.shuttingDown;
  }

  onModuleDestroy(): void {
    this.shuttingDown = true;
  }
}
