// From the config subpath: the package's index loads NestJS, which this validation does not need (and jest cannot load it as ESM).
import { z } from 'zod';
import { loadServiceConfig, nonNegativeInt, port, ratio } from '@opsforge/common/config';

/**
 * The bound on waiting for replicas stays below the API's Redis command timeout (PRODUCER_COMMAND_TIMEOUT_MS,
 * 800 ms), so a submission whose replica acknowledgement does not come answers 503 instead of hanging.
 */
export const MAX_REPLICA_ACK_TIMEOUT_MS = 700;

/** The API's own variables; the shared ones (Redis, logging, version, shutdown bound) come from common. */
const apiVariables = {
  PORT: port.default(3000),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(65_536),
  CHAOS_ERROR_RATIO: ratio.default(0),
  CHAOS_LATENCY_MS: nonNegativeInt.max(60_000).default(0),
  // Acknowledge a job submission (202) only once this many replicas have it (Redis WAIT): a failover then
  // cannot lose it unless every replica that had it is lost too. 0 acknowledges on the primary's word alone.
  REDIS_REPLICA_ACKS: nonNegativeInt.max(5).default(0),
  REDIS_REPLICA_ACK_TIMEOUT_MS: z.coerce.number().int().min(1).max(MAX_REPLICA_ACK_TIMEOUT_MS).default(500),
};

export type ApiConfig = ReturnType<typeof loadApiConfig>;

export function loadApiConfig(env: NodeJS.ProcessEnv, packageVersion: string) {
  return loadServiceConfig('api', apiVariables, env, packageVersion);
}
