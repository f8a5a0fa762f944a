import { z } from 'zod';

/**
 * The Redis part of the configuration schema, shared by both services: which Redis topology to reach and how.
 *
 * - `standalone` (default): one Redis at REDIS_URL, as in dev and in `npm start`.
 * - `sentinel`: a primary with replicas, managed by Redis Sentinel (production, see docs/architecture.md): the
 *   client asks the sentinels in REDIS_SENTINELS for the current primary of REDIS_SENTINEL_MASTER_NAME and
 *   follows a failover by itself.
 * - `cluster`: a Redis Cluster reached through the seed nodes in REDIS_CLUSTER_NODES. The queue's keys stay in
 *   one hash slot because QUEUE_PREFIX is a hash tag.
 *
 * A variable that belongs to another mode is an error rather than silently ignored: an adopter who sets
 * REDIS_SENTINELS but forgets REDIS_MODE=sentinel would otherwise run against REDIS_URL's default.
 */

export const REDIS_MODES = ['standalone', 'sentinel', 'cluster'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** `host:port`, as a sentinel or a cluster seed node is addressed. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

// A hostname (DNS label characters, for Kubernetes Service names), an IPv4 address or a bracketed IPv6 address.
const NODE_ADDRESS = /^(?:\[(?<ipv6>[0-9A-Fa-f:.]+)\]|(?<host>[A-Za-z0-9.-]+)):(?<port>\d{1,5})$/;

function parseNodeAddress(text: string): RedisNodeAddress | undefined {
  const match = NODE_ADDRESS.exec(text.trim());
  const port = Number(match?.groups?.port);
  if (!match || port < 1 || port > 65_535) return undefined;
  return { host: match.groups?.ipv6 ?? match.groups!.host, port };
}

const nodeAddressList = (example: string) =>
  z.string().transform((value, context) => {
    const entries = value.split(',').map((entry) => entry.trim());
    const addresses = entries.map(parseNodeAddress);
    const invalid = entries.filter((_, index) => addresses[index] === undefined);
    if (invalid.length > 0) {
      context.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of host:port such as ${example} (not ${invalid
          .map((entry) => JSON.stringify(entry))
          .join(', ')})`,
      });
      return z.NEVER;
    }
    return addresses as RedisNodeAddress[];
  });

const booleanFlag = z.enum(['true', 'false']).transform((value) => value === 'true');

const redisUrl = z
  .string()
  .refine((value) => URL.canParse(value), 'must be a URL such as redis://127.0.0.1:6379')
  .refine(
    (value) => !URL.canParse(value) || ['redis:', 'rediss:'].includes(new URL(value).protocol),
    'must use the redis:// or rediss:// scheme',
  )
  .refine(
    (value) => !URL.canParse(value) || /^\/?\d*$/.test(new URL(value).pathname),
    'the path, if any, must be a database number such as /0',
  );

const redisVariables = {
  REDIS_MODE: z.enum(REDIS_MODES).default('standalone'),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_SENTINELS: nodeAddressList('redis-sentinel:26379').optional(),
  REDIS_SENTINEL_MASTER_NAME: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]+$/,
      'must be the master group name the sentinels monitor (letters, digits, _ . -)',
    )
    .optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: nodeAddressList('redis-cluster-0.redis-cluster:6379').optional(),
  // TLS to the data nodes (and the sentinels) in sentinel and cluster mode; standalone says it with rediss://.
  REDIS_TLS: booleanFlag.optional(),
};

/** The Redis variables; each service's schema spreads its `shape` into its own. */
export const redisSettingsSchema = z.object(redisVariables);

/** The validated Redis settings, as every service's config object carries them. */
export type RedisSettings = z.infer<typeof redisSettingsSchema>;

const MODE_VARIABLES: Record<RedisMode, (keyof RedisSettings)[]> = {
  standalone: ['REDIS_URL'],
  sentinel: ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS'],
  cluster: ['REDIS_CLUSTER_NODES', 'REDIS_TLS'],
};

const REQUIRED_IN_MODE: Record<RedisMode, (keyof RedisSettings)[]> = {
  standalone: [],
  sentinel: ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER_NAME'],
  cluster: ['REDIS_CLUSTER_NODES'],
};

/**
 * Cross-variable rules of the Redis settings, for a schema's superRefine. `given` are the variable names present
 * in the environment: REDIS_URL has a default, so only an explicit one outside standalone mode is a mistake.
 */
export function checkRedisSettings(
  settings: RedisSettings,
  given: ReadonlySet<string>,
  context: z.RefinementCtx,
): void {
  const mode = settings.REDIS_MODE;
  for (const variable of REQUIRED_IN_MODE[mode])
    if (settings[variable] === undefined)
      context.addIssue({ code: 'custom', path: [variable], message: `is required with REDIS_MODE=${mode}` });
  const allowed = new Set(MODE_VARIABLES[mode]);
  for (const [otherMode, variables] of Object.entries(MODE_VARIABLES) as [
    RedisMode,
    (keyof RedisSettings)[],
  ][])
    for (const variable of variables)
      if (otherMode !== mode && !allowed.has(variable) && given.has(variable))
        context.addIssue({
          code: 'custom',
          path: [variable],
          message: `belongs to REDIS_MODE=${otherMode}, but REDIS_MODE is ${mode}`,
        });
}

/** Variables never echoed back in an error message. */
export const SECRET_REDIS_VARIABLES: ReadonlySet<string> = new Set([
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
]);
