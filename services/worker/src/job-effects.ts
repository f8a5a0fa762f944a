import { Inject, Injectable } from '@nestjs/common';
import {
  CONFIG,
  JOB_EFFECT_TTL_SECONDS,
  jobEffectKey,
  REDIS_CLIENT,
  type RedisConnection,
} from '@opsforge/common';
import type { WorkerConfig } from './config';

// SET NX and the read of the winner in one script: whichever run of a job records first, every later run of the
// same job id (a retry, or a re-run after a worker died mid-job) gets that first record back instead of
// writing a second one.
const RECORD_ONCE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
`;

/** A job's externally visible effect, applied exactly once per job id however many times the job runs. */
@Injectable()
export class JobEffects {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisConnection,
    @Inject(CONFIG) private readonly config: WorkerConfig,
  ) {}

  async recordOnce<T>(jobId: string, effect: T): Promise<T> {
    const stored = (await this.redis.eval(
      RECORD_ONCE,
      1,
      jobEffectKey(this.config.QUEUE_PREFIX, jobId),
      JSON.stringify(effect),
      JOB_EFFECT_TTL_SECONDS,
    )) as string;
    return JSON.parse(stored) as T;
  }
}
