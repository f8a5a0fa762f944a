import { Injectable, type OnModuleDestroy } from '@nestjs/common';

/**
 * Whether the service is shutting down: from the signal on (exitGracefullyOnSignals calls startDraining in the
 * signal's own listener, before any I/O is read), /ready answers 503 and the load balancer stops sending new work
 * while in-flight requests and active jobs finish. onModuleDestroy covers a close that no signal started.
 */
@Injectable()
export class LifecycleState implements OnModuleDestroy {
  private shuttingDown = false;

  get draining(): boolean {
    return this.shuttingDown;
  }

  startDraining(): void {
    this.shuttingDown = true;
  }

  onModuleDestroy(): void {
    this.startDraining();
  }
}
