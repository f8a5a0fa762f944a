import { type DynamicModule, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { BullModule, InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { CONFIG, type SharedConfig } from './config';
import { HealthController } from './health.controller';
import { defaultJobOptions, JOB_QUEUE_NAME } from './job-contract';
import { LifecycleState } from './lifecycle-state';
import { applicationLoggingParams } from './logging';
import { AppInfoReporter, appInfoGauge, prometheusModule } from './metrics';
import type { RedisConnection, RedisRole } from './redis';
import { REDIS_CLIENT, RedisClientModule } from './redis-client';

/**
 * A Queue re-emits its connection's errors; an `error` event without a listener would crash the process, and a
 * Redis outage must not. The shared client already logs each distinct connection error once.
 */
@Injectable()
class QueueErrorListener implements OnModuleInit {
  constructor(@InjectQueue(JOB_QUEUE_NAME) private readonly queue: Queue) {}

  onModuleInit(): void {
    this.queue.on('error', () => undefined);
  }
}

/**
 * Everything both services share, as one module: validated config, JSON logging, /metrics, /health and /ready,
 * and the BullMQ queue of the job contract connected the way the service's role needs.
 */
@Module({})
export class CommonModule {
  static forService(config: SharedConfig, redisRole: RedisRole): DynamicModule {
    const redisClient = RedisClientModule.forService(config, redisRole);
    const bullModules = [
      BullModule.forRootAsync({
        imports: [redisClient],
        inject: [REDIS_CLIENT],
        useFactory: (redis: RedisConnection) => ({ connection: redis, prefix: config.QUEUE_PREFIX }),
      }),
      BullModule.registerQueue({
        name: JOB_QUEUE_NAME,
        defaultJobOptions: { ...defaultJobOptions, backoff: { ...defaultJobOptions.backoff } },
      }),
    ];
    return {
      module: CommonModule,
      global: true,
      imports: [
        LoggerModule.forRoot(applicationLoggingParams(config, config.LOG_LEVEL)),
        prometheusModule(),
        TerminusModule.forRoot({ logger: false }),
        redisClient,
        ...bullModules,
      ],
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        appInfoGauge,
        AppInfoReporter,
        LifecycleState,
        QueueErrorListener,
      ],
      exports: [CONFIG, LifecycleState, redisClient, ...bullModules],
    };
  }
}
