import {
  type DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { createRedisConnection, type RedisClientConfig, type RedisConnection, type RedisRole } from './redis';

/**
 * Injection token for the service's own ioredis client, a `RedisConnection` (BullMQ queues share it; workers
 * duplicate it).
 */
export const REDIS_CLIENT = Symbol('OPSFORGE_REDIS_CLIENT');

@Injectable()
class RedisClientLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private lastError: string | undefined;

  constructor(@Inject(REDIS_CLIENT) private readonly redis: RedisConnection) {
    // ioredis emits `error` on every failed reconnect; without a listener Node would crash on a Redis outage.
    // One line per distinct error keeps an outage readable.
    redis.on('error', (error: Error) => {
      if (error.message === this.lastError) return;
      this.lastError = error.message;
      this.logger.error(`Redis connection problem: ${error.message}`);
    });
    redis.on('ready', () => {
      if (this.lastError !== undefined) this.logger.log('Redis connection restored');
      this.lastError = undefined;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    // QUIT lets pending replies arrive; with Redis unreachable there is nothing to wait for.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

@Module({})
export class RedisClientModule {
  static forService(config: RedisClientConfig, role: RedisRole): DynamicModule {
    return {
      module: RedisClientModule,
      providers: [
        { provide: REDIS_CLIENT, useFactory: () => createRedisConnection(config, role) },
        RedisClientLifecycle,
      ],
      exports: [REDIS_CLIENT],
    };
  }
}
