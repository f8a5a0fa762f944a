import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { LifecycleState } from './lifecycle-state';
import { type RedisConnection, withTimeout } from './redis';
import { REDIS_CLIENT } from './redis-client';

/** A readiness probe must answer before kubelet's own timeout (1 s by default), whatever Redis does. */
const READINESS_PING_TIMEOUT_MS = 500;

/**
 * `/health` is liveness: the process answers, nothing else (a Redis outage must not get pods restarted).
 * `/ready` is readiness: Redis answers a PING and the service is not draining; a 503 body names the failing
 * dependency under `error`.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: LifecycleState,
    @Inject(REDIS_CLIENT) private readonly redis: RedisConnection,
  ) {}

  @Get('health')
  liveness(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  readiness() {
    return this.health.check([() => this.notDraining(), () => this.redisAnswers()]);
  }

  private notDraining() {
    const session = this.indicators.check('shutdown');
    return this.lifecycle.draining
      ? session.down({ message: 'shutting down: draining in-flight work' })
      : session.up();
  }

  private async redisAnswers() {
    const session = this.indicators.check('redis');
    try {
      const pong = await withTimeout(this.redis.ping(), READINESS_PING_TIMEOUT_MS, 'Redis PING');
      return pong === 'PONG'
        ? session.up()
        : session.down({ message: `unexpected PING reply ${JSON.stringify(pong)}` });
    } catch (error) {
      return session.down({ message: (error as Error).message });
    }
  }
}
