// Redis as BullMQ needs it: bounded memory that never evicts job keys, with room for the AOF rewrite's fork.
import { objectName, ofKind, parseQuantity, podSpec } from '../../lib/kubernetes';
import { defineRule, envTrees } from './define-rule';
import { eachContainer } from './visits';

const REDIS_MEMORY_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
};

/** A redis.conf memory size (`256mb`: Redis' own units, case-insensitive), in bytes. */
export function parseRedisMemory(text: string): number | undefined {
  const match = /^(\d+)([kmg]?b?)$/i.exec(text.trim());
  return match ? Number(match[1]) * REDIS_MEMORY_UNITS[match[2].toLowerCase()] : undefined;
}

function redisDirective(conf: string, name: string): string | undefined {
  const line = conf
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.toLowerCase().startsWith(`${name} `))
    .pop();
  return line?.slice(name.length).trim();
}

const redisMemoryHeadroom = defineRule({
  name: 'redis-memory-headroom',
  summary:
    'a Redis container mounting a redis.conf sets maxmemory with noeviction, requests at least maxmemory and limits at least twice it (the AOF rewrite forks)',
  check({ trees, flag }) {
    for (const { tree, workload, container, at } of eachContainer(envTrees(trees))) {
      const volumes = podSpec(workload).volumes ?? [];
      for (const mount of container.volumeMounts ?? []) {
        const configMapName = volumes.find((v) => v.name === mount.name)?.configMap?.name;
        const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === configMapName);
        const conf: string | undefined = configMap?.data?.['redis.conf'];
        if (!configMap || conf === undefined) continue;
        const maxmemoryText = redisDirective(conf, 'maxmemory');
        const maxmemory = maxmemoryText ? parseRedisMemory(maxmemoryText) : undefined;
        if (!maxmemory) {
          flag(
            at,
            `${objectName(configMap)} redis.conf sets no maxmemory: without it Redis grows until the container is OOM-killed; set one`,
          );
          continue;
        }
        if (redisDirective(conf, 'maxmemory-policy') !== 'noeviction') {
          flag(
            at,
            `${objectName(configMap)} redis.conf must set maxmemory-policy noeviction: an evicting Redis deletes BullMQ's job keys`,
          );
        }
        const request = container.resources?.requests?.memory;
        const limit = container.resources?.limits?.memory;
        if (request !== undefined && parseQuantity(request) < maxmemory) {
          flag(
            at,
            `requests memory ${request}, less than maxmemory ${maxmemoryText}: a full Redis would not fit`,
          );
        }
        if (limit !== undefined && parseQuantity(limit) < 2 * maxmemory) {
          flag(
            at,
            `limits memory ${limit}, under twice maxmemory ${maxmemoryText}: the AOF rewrite's fork copies pages on write and can be OOM-killed; raise the limit or lower maxmemory`,
          );
        }
      }
    }
  },
});

export const redisRules = [redisMemoryHeadroom];
