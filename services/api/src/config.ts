// From the config subpath: the package's index loads NestJS, which this validation does not need (and jest cannot load it as ESM).
import { z } from 'zod';
import { loadServiceConfig, nonNegativeInt, port, ratio } from '@opsforge/common/config';

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
};

export type ApiConfig = ReturnType<typeof loadApiConfig>;

export function loadApiConfig(env: NodeJS.ProcessEnv, packageVersion: string) {
  return loadServiceConfig('api', apiVariables, env, packageVersion);
}
