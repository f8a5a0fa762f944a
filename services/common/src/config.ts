import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import {
  checkRedisSettings,
  redisSettingsSchema,
  type RedisSettings,
  SECRET_REDIS_VARIABLES,
} from './redis-config';

/**
 * Configuration comes from environment variables only (twelve-factor), validated once at start. The variable
 * names, defaults and meanings are the contract in docs/architecture.md; a bad value stops the process with a
 * message naming the variable instead of surfacing later as a confusing runtime error.
 */

// Shapes the services' own schemas reuse.
export const port = z.coerce.number().int().min(1).max(65_535);
export const ratio = z.coerce.number().min(0).max(1);
export const nonNegativeInt = z.coerce.number().int().min(0);

/** How both services reach Redis and name their keys in it. */
const redisVariables = {
  ...redisSettingsSchema.shape,
  // BullMQ keys live under this prefix; braces make it a Redis Cluster hash tag so every key of the queue
  // (and the job effects, which Lua scripts touch together with them) lands in one slot.
  QUEUE_PREFIX: z
    .string()
    .regex(
      /^\{[A-Za-z0-9_.-]+\}$|^[A-Za-z0-9_.-]+$/,
      'must be a name such as {opsforge} (letters, digits, _ . -)',
    )
    .default('{opsforge}'),
};

/**
 * The variables every service reads. Each service adds its own (PORT with its default, and what only it uses)
 * in its own `config.ts`; this file knows none of them.
 */
export const sharedVariables = {
  ...redisVariables,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  APP_VERSION: z.string().min(1).max(128).optional(),
  SHUTDOWN_TIMEOUT_MS: nonNegativeInt.max(600_000).default(20_000),
};

export interface ServiceIdentity {
  /** `api` or `worker`: the `app` field of every log line. */
  app: 'api' | 'worker';
  /** What /api/status and `app_info{version}` report: APP_VERSION, else the package version. */
  version: string;
}

type SharedEnvironment = z.infer<z.ZodObject<typeof sharedVariables>>;

/** What `common` reads of a service's configuration: the shared variables and who the service is. */
export type SharedConfig = SharedEnvironment & ServiceIdentity;

/** Thrown when the environment does not validate; `variables` names every offending variable. */
export class ConfigError extends Error {
  constructor(
    readonly variables: string[],
    readonly problems: string[],
  ) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

// Kubernetes and shells often set a variable to the empty string to "unset" it: treat that as absent so the
// default applies, rather than coercing "" to 0.
function withoutEmptyValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

function parse<Schema extends z.ZodType>(schema: Schema, env: NodeJS.ProcessEnv): z.infer<Schema> {
  const cleaned = withoutEmptyValues(env);
  const given = new Set(Object.keys(cleaned));
  const result = schema
    // Every service schema extends sharedVariables (loadServiceConfig), so its output carries the Redis settings.
    .superRefine((settings, context) => checkRedisSettings(settings as RedisSettings, given, context))
    .safeParse(cleaned);
  if (result.success) return result.data;
  const variables = [...new Set(result.error.issues.map((issue) => String(issue.path[0])))];
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0]);
    // Never echo a secret back into the logs.
    const shown = SECRET_REDIS_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(cleaned[variable])})`;
    return `${variable}: ${issue.message}${shown}`;
  });
  throw new ConfigError(variables, problems);
}

/**
 * Validate `env` against the shared variables plus a service's own, and name the service: each service's
 * `loadConfig` is this with its variables.
 */
export function loadServiceConfig<App extends ServiceIdentity['app'], Own extends z.ZodRawShape>(
  app: App,
  ownVariables: Own,
  env: NodeJS.ProcessEnv,
  packageVersion: string,
): z.infer<z.ZodObject<typeof sharedVariables & Own>> & { app: App; version: string } {
  const parsed = parse(z.object({ ...sharedVariables, ...ownVariables }), env);
  return { ...parsed, app, version: (parsed as SharedEnvironment).APP_VERSION ?? packageVersion };
}

/** Injection token for the validated configuration object of the running service. */
export const CONFIG = Symbol('OPSFORGE_CONFIG');

/**
 * The version in the nearest package.json above `directory`: the service's own, whether it runs from tsc's
 * output (dist/compiled) or from the bundle (dist).
 */
export function ownPackageVersion(directory: string): string {
  for (let current = directory; ; current = dirname(current)) {
    const candidate = join(current, 'package.json');
    if (existsSync(candidate))
      return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    if (dirname(current) === current) throw new Error(`no package.json above ${directory}`);
  }
}
