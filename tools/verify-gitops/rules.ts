// The named policy rules verify-gitops applies to the rendered trees. Each rule says which object breaks it
// and what to change; rules.spec.ts feeds every rule a broken object and expects it to fail.
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ENVIRONMENTS, IMAGE_REPOSITORY, IMAGE_TAG_PATTERN } from '../lib/gitops';
import { ARGOCD_DIRECTORY } from './render';
import {
  containerEnvValue,
  containersOf,
  type K8sObject,
  minimumReplicas,
  objectName,
  ofKind,
  parseCount,
  parseDurationSeconds,
  parseQuantity,
  podLabels,
  podSpec,
  type RenderedTree,
  type Rule,
  selectorMatches,
  serviceSelects,
  type Violation,
  where,
  workloads,
} from './model';

/** Replicas each environment runs per service (docs/gitops.md); staging sits strictly between. */
export const ENV_REPLICAS = { dev: 1, prod: 3 } as const;

/**
 * Resident memory of our Node services as measured (docs/gitops.md, "Sizing"): the idle footprint after
 * start-up and the peak under load. A memory request below the idle footprint misplaces the pod and trips a
 * memory HPA at rest; a limit below the peak (with headroom) gets the process OOM-killed under load.
 */
export const SERVICE_MEMORY_MIB = { idle: 150, peak: 290 } as const;
/** Headroom of the memory limit over the measured peak (GC timing, larger payloads, a busier node). */
const MEMORY_LIMIT_HEADROOM = 1.3;
const MIB = 1024 * 1024;

/** The label the kube-prometheus-stack Prometheus selects ServiceMonitors by (argocd/platform). */
export const SCRAPE_SELECTOR_LABEL = 'release';

const THIRD_PARTY_TAG = /^v?[0-9]+\.[0-9]+\.[0-9]+([-+.][0-9A-Za-z.-]+)?$/;
const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

function envTrees(trees: RenderedTree[]): RenderedTree[] {
  return trees.filter((tree) => tree.role === 'env');
}

function argocdTrees(trees: RenderedTree[]): RenderedTree[] {
  return trees.filter((tree) => tree.role === 'argocd');
}

function violation(rule: string, whereText: string, message: string): Violation {
  return { rule, where: whereText, message };
}

/** Names other parts rely on (docs/architecture.md, "Kubernetes names"), per env. */
export const CONTRACT = {
  services: ['api', 'api-canary', 'worker', 'redis'],
  workloads: { api: 'Rollout', worker: 'Rollout', redis: 'StatefulSet' } as Record<string, string>,
  partOf: 'opsforge',
};

const contractNames: Rule = {
  name: 'contract-names',
  summary:
    'each env renders the Services and workloads docs/architecture.md names, labelled app.kubernetes.io/name and part-of opsforge',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of envTrees(trees)) {
      const report = (message: string) => found.push(violation(this.name, tree.source, message));
      for (const name of CONTRACT.services) {
        if (!ofKind(tree, 'Service').some((s) => s.metadata?.name === name)) {
          report(
            `renders no Service "${name}", which docs/architecture.md promises (the HTTPRoute, clients or the analysis rely on it)`,
          );
        }
      }
      for (const [name, kind] of Object.entries(CONTRACT.workloads)) {
        const workload = ofKind(tree, kind).find((w) => w.metadata?.name === name);
        if (!workload) {
          report(`renders no ${kind} "${name}"`);
          continue;
        }
        const labels = podLabels(workload);
        if (
          labels['app.kubernetes.io/name'] !== name ||
          labels['app.kubernetes.io/part-of'] !== CONTRACT.partOf
        ) {
          found.push(
            violation(
              this.name,
              where(tree, workload),
              `pods must be labelled app.kubernetes.io/name: ${name} and app.kubernetes.io/part-of: ${CONTRACT.partOf} (dashboards, alerts and NetworkPolicies select them by these)`,
            ),
          );
        }
      }
      if (tree.env && ofKind(tree, 'Rollout').some((r) => r.metadata?.namespace !== tree.env)) {
        report(
          `its objects must live in namespace "${tree.env}" (the folder name is the namespace): set namespace: ${tree.env} in its kustomization.yaml`,
        );
      }
    }
    return found;
  },
};

const podSecurityRestricted: Rule = {
  name: 'pod-security-restricted',
  summary:
    'every container runs non-root, read-only, without privilege escalation, all capabilities dropped, seccomp RuntimeDefault',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        const pod = podSpec(workload);
        const podContext = pod.securityContext ?? {};
        const report = (detail: string, message: string) =>
          found.push(violation(this.name, where(tree, workload, detail), message));
        for (const flag of ['hostNetwork', 'hostPID', 'hostIPC']) {
          if (pod[flag] === true)
            report('', `${flag} is forbidden by the restricted Pod Security level: remove it`);
        }
        for (const volume of pod.volumes ?? []) {
          if (volume.hostPath)
            report('', `volume "${volume.name}" is a hostPath: use an emptyDir, ConfigMap, Secret or PVC`);
        }
        for (const { container, label } of containersOf(workload)) {
          const context = container.securityContext ?? {};
          const runAsNonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
          if (runAsNonRoot !== true)
            report(label, 'must run as non-root: set securityContext.runAsNonRoot: true');
          if ((context.runAsUser ?? podContext.runAsUser) === 0)
            report(label, "runs as uid 0: set runAsUser to the image's non-root user");
          if (context.privileged === true) report(label, 'is privileged: remove securityContext.privileged');
          if (context.allowPrivilegeEscalation !== false) {
            report(label, 'must set securityContext.allowPrivilegeEscalation: false');
          }
          if (context.readOnlyRootFilesystem !== true) {
            report(
              label,
              'must set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)',
            );
          }
          const drop: string[] = context.capabilities?.drop ?? [];
          if (!drop.includes('ALL'))
            report(label, 'must drop all capabilities: securityContext.capabilities.drop: [ALL]');
          const added: string[] = context.capabilities?.add ?? [];
          if (added.some((capability) => capability !== 'NET_BIND_SERVICE')) {
            report(
              label,
              `adds capabilities ${added.join(', ')}: the restricted level allows only NET_BIND_SERVICE`,
            );
          }
          const seccomp = (context.seccompProfile ?? podContext.seccompProfile)?.type;
          if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
            report(label, 'needs a seccomp profile: securityContext.seccompProfile.type: RuntimeDefault');
          }
        }
      }
    }
    return found;
  },
};

/** Where a container can write: mount paths of its writable emptyDir volumes, with the volume. */
function writableEmptyDirMounts(
  workload: K8sObject,
  container: K8sObject,
): { path: string; volume: K8sObject }[] {
  const volumes: K8sObject[] = podSpec(workload).volumes ?? [];
  return (container.volumeMounts ?? []).flatMap((mount: K8sObject) => {
    const volume = volumes.find((v) => v.name === mount.name);
    return volume?.emptyDir && mount.readOnly !== true ? [{ path: String(mount.mountPath), volume }] : [];
  });
}

function isUnder(path: string, directory: string): boolean {
  const base = directory.replace(/\/+$/, '');
  return path === base || path.startsWith(`${base}/`);
}

const nodeWritableTmp: Rule = {
  name: 'node-writable-tmp',
  summary:
    'each service container with a read-only root filesystem has a writable, size-limited emptyDir at /tmp, and NODE_COMPILE_CACHE (if set) lies on one',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        for (const { container, label } of containersOf(workload)) {
          // Our Node services write the compile cache (NODE_COMPILE_CACHE, else the OS temp dir) and Node's
          // own temp files; third-party images say for themselves where they write.
          if (!String(container.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`)) continue;
          if (container.securityContext?.readOnlyRootFilesystem !== true) continue;
          const report = (message: string) =>
            found.push(violation(this.name, where(tree, workload, label), message));
          const writable = writableEmptyDirMounts(workload, container);
          const tmp = writable.find((mount) => isUnder('/tmp', mount.path));
          if (!tmp) {
            report(
              'has a read-only root filesystem but no writable emptyDir at /tmp: Node (and its compile cache) would fail to write there; mount one',
            );
          } else if (tmp.volume.emptyDir.sizeLimit === undefined) {
            report(
              `its /tmp emptyDir "${tmp.volume.name}" has no sizeLimit: set one so a runaway writer is evicted instead of filling the node's disk`,
            );
          }
          const cacheDirectory = containerEnvValue(tree, container, 'NODE_COMPILE_CACHE');
          if (cacheDirectory && !writable.some((mount) => isUnder(cacheDirectory, mount.path))) {
            report(
              `NODE_COMPILE_CACHE=${cacheDirectory} is not on a writable emptyDir: point it under /tmp or mount one there`,
            );
          }
        }
      }
    }
    return found;
  },
};

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

const redisMemoryHeadroom: Rule = {
  name: 'redis-memory-headroom',
  summary:
    'a Redis container mounting a redis.conf sets maxmemory with noeviction, requests at least maxmemory and limits at least twice it (the AOF rewrite forks)',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of envTrees(trees)) {
      for (const workload of workloads(tree)) {
        const volumes: K8sObject[] = podSpec(workload).volumes ?? [];
        for (const { container, label } of containersOf(workload)) {
          for (const mount of container.volumeMounts ?? []) {
            const configMapName = volumes.find((v) => v.name === mount.name)?.configMap?.name;
            const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === configMapName);
            const conf: string | undefined = configMap?.data?.['redis.conf'];
            if (!configMap || conf === undefined) continue;
            const report = (message: string) =>
              found.push(violation(this.name, where(tree, workload, label), message));
            const maxmemoryText = redisDirective(conf, 'maxmemory');
            const maxmemory = maxmemoryText ? parseRedisMemory(maxmemoryText) : undefined;
            if (!maxmemory) {
              report(
                `${objectName(configMap)} redis.conf sets no maxmemory: without it Redis grows until the container is OOM-killed; set one`,
              );
              continue;
            }
            if (redisDirective(conf, 'maxmemory-policy') !== 'noeviction') {
              report(
                `${objectName(configMap)} redis.conf must set maxmemory-policy noeviction: an evicting Redis deletes BullMQ's job keys`,
              );
            }
            const request = container.resources?.requests?.memory;
            const limit = container.resources?.limits?.memory;
            if (request !== undefined && parseQuantity(request) < maxmemory) {
              report(
                `requests memory ${request}, less than maxmemory ${maxmemoryText}: a full Redis would not fit`,
              );
            }
            if (limit !== undefined && parseQuantity(limit) < 2 * maxmemory) {
              report(
                `limits memory ${limit}, under twice maxmemory ${maxmemoryText}: the AOF rewrite's fork copies pages on write and can be OOM-killed; raise the limit or lower maxmemory`,
              );
            }
          }
        }
      }
    }
    return found;
  },
};

const probes: Rule = {
  name: 'probes',
  summary:
    'every container has liveness and readiness probes; the services probe /health (liveness) and /ready (readiness) on a declared port',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        for (const container of podSpec(workload).containers ?? []) {
          const label = `container "${container.name}"`;
          const report = (message: string) =>
            found.push(violation(this.name, where(tree, workload, label), message));
          for (const [probe, path] of [
            ['livenessProbe', '/health'],
            ['readinessProbe', '/ready'],
          ] as const) {
            const spec = container[probe];
            if (!spec) {
              report(`has no ${probe}: add one`);
              continue;
            }
            if (!String(container.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`)) continue;
            // Our services' contract (docs/architecture.md): liveness checks the process, readiness Redis.
            if (spec.httpGet?.path !== path) {
              report(
                `${probe} must be an httpGet on ${path} (docs/architecture.md), not ${JSON.stringify(spec.httpGet?.path ?? spec)}`,
              );
            }
            const port = spec.httpGet?.port;
            const declared = (container.ports ?? []).some(
              (p: K8sObject) => p.name === port || p.containerPort === port,
            );
            if (!declared)
              report(`${probe} targets port ${JSON.stringify(port)}, which the container does not declare`);
          }
        }
      }
    }
    return found;
  },
};

const resources: Rule = {
  name: 'resources',
  summary:
    'every container sets cpu and memory requests and limits, requests not above limits; the services at least their measured idle memory (request) and peak with headroom (limit)',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        for (const { container, label } of containersOf(workload)) {
          const report = (message: string) =>
            found.push(violation(this.name, where(tree, workload, label), message));
          for (const resource of ['cpu', 'memory']) {
            const request = container.resources?.requests?.[resource];
            const limit = container.resources?.limits?.[resource];
            if (request === undefined) report(`has no resources.requests.${resource}: set one`);
            if (limit === undefined) report(`has no resources.limits.${resource}: set one`);
            if (
              request !== undefined &&
              limit !== undefined &&
              parseQuantity(request) > parseQuantity(limit)
            ) {
              report(
                `requests ${resource} ${request} above its limit ${limit}: lower the request or raise the limit`,
              );
            }
          }
          if (!String(container.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`)) continue;
          const memoryRequest = container.resources?.requests?.memory;
          const memoryLimit = container.resources?.limits?.memory;
          if (memoryRequest !== undefined && parseQuantity(memoryRequest) < SERVICE_MEMORY_MIB.idle * MIB) {
            report(
              `requests memory ${memoryRequest}, below the service's measured idle footprint of ${SERVICE_MEMORY_MIB.idle} MiB: raise it`,
            );
          }
          const neededLimit = Math.ceil(SERVICE_MEMORY_MIB.peak * MEMORY_LIMIT_HEADROOM);
          if (memoryLimit !== undefined && parseQuantity(memoryLimit) < neededLimit * MIB) {
            report(
              `limits memory ${memoryLimit}, under ${neededLimit} MiB (measured peak ${SERVICE_MEMORY_MIB.peak} MiB + ${Math.round((MEMORY_LIMIT_HEADROOM - 1) * 100)}%): the process would be OOM-killed under load; raise it`,
            );
          }
        }
      }
    }
    return found;
  },
};

/** Why an image reference can move under us, or undefined when it is immutable. */
function movingImageProblem(image: string, tree: RenderedTree): string | undefined {
  const [repository, digest] = image.split('@');
  const lastColon = repository.lastIndexOf(':');
  const tag = lastColon > repository.lastIndexOf('/') ? repository.slice(lastColon + 1) : undefined;
  const name = tag === undefined ? repository : repository.slice(0, lastColon);
  if (name.startsWith(`${IMAGE_REPOSITORY}/`)) {
    if (!tag || !IMAGE_TAG_PATTERN.test(tag)) {
      return `must be tagged with the 40-character git sha that built it: set newTag under images: in ${tree.source}/kustomization.yaml`;
    }
  } else if (!digest && (!tag || !THIRD_PARTY_TAG.test(tag))) {
    return 'must name a full release version (x.y.z) or a digest, never latest or a moving major/minor tag';
  }
  return undefined;
}

/** Every `image: <string>` inside Helm values (e.g. an init container a platform chart is given). */
function imagesInValues(value: unknown, path: string): { image: string; path: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => imagesInValues(item, `${path}[${index}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as K8sObject).flatMap(([key, child]) =>
    key === 'image' && typeof child === 'string'
      ? [{ image: child, path: `${path}.image` }]
      : imagesInValues(child, `${path}.${key}`),
  );
}

const immutableImageTags: Rule = {
  name: 'immutable-image-tags',
  summary: `images of ${IMAGE_REPOSITORY} by full git sha, third-party images (also in platform chart values) by full version or digest; never latest`,
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        for (const { container, label } of containersOf(workload)) {
          const image = String(container.image ?? '');
          const problem = movingImageProblem(image, tree);
          if (problem)
            found.push(violation(this.name, where(tree, workload, label), `image "${image}" ${problem}`));
        }
      }
      for (const application of ofKind(tree, 'Application')) {
        for (const source of sourcesOf(application.spec ?? {})) {
          for (const { image, path } of imagesInValues(source.helm?.valuesObject, 'valuesObject')) {
            const problem = movingImageProblem(image, tree);
            if (problem)
              found.push(violation(this.name, where(tree, application, path), `image "${image}" ${problem}`));
          }
        }
      }
    }
    return found;
  },
};

function matchingObjects(
  tree: RenderedTree,
  kind: string,
  workload: K8sObject,
  selectorPath: (o: K8sObject) => K8sObject | undefined,
) {
  return ofKind(tree, kind).filter((candidate) =>
    selectorMatches(selectorPath(candidate), podLabels(workload)),
  );
}

const workloadHasPdb: Rule = {
  name: 'workload-has-pdb',
  summary: 'every workload is covered by a PodDisruptionBudget',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        if (matchingObjects(tree, 'PodDisruptionBudget', workload, (p) => p.spec?.selector).length === 0) {
          found.push(
            violation(
              this.name,
              where(tree, workload),
              `no PodDisruptionBudget selects its pods: add one with maxUnavailable: 1 selecting ${JSON.stringify(podLabels(workload))}`,
            ),
          );
        }
      }
    }
    return found;
  },
};

const workloadHasNetworkPolicy: Rule = {
  name: 'workload-has-networkpolicy',
  summary: 'every workload is selected by a NetworkPolicy that restricts ingress',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        const policies = matchingObjects(tree, 'NetworkPolicy', workload, (p) => p.spec?.podSelector).filter(
          (p) => (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
        );
        if (policies.length === 0) {
          found.push(
            violation(
              this.name,
              where(tree, workload),
              'no NetworkPolicy with policyTypes Ingress selects its pods: add one admitting only its real clients',
            ),
          );
        }
      }
    }
    return found;
  },
};

function disruptionsAllowed(pdb: K8sObject, replicas: number): number {
  const resolve = (value: unknown, roundUp: boolean): number => {
    if (typeof value === 'string' && value.endsWith('%')) {
      const share = (Number(value.slice(0, -1)) / 100) * replicas;
      return roundUp ? Math.ceil(share) : Math.floor(share);
    }
    return Number(value);
  };
  if (pdb.spec?.maxUnavailable !== undefined) return resolve(pdb.spec.maxUnavailable, true);
  if (pdb.spec?.minAvailable !== undefined) return replicas - resolve(pdb.spec.minAvailable, true);
  return replicas;
}

const pdbAllowsEviction: Rule = {
  name: 'pdb-allows-eviction',
  summary: "a PodDisruptionBudget never blocks every eviction at the workload's minimum replicas",
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const pdb of ofKind(tree, 'PodDisruptionBudget')) {
        for (const workload of workloads(tree).filter((w) =>
          selectorMatches(pdb.spec?.selector, podLabels(w)),
        )) {
          const replicas = minimumReplicas(tree, workload);
          if (disruptionsAllowed(pdb, replicas) < 1) {
            found.push(
              violation(
                this.name,
                where(tree, pdb),
                `allows no eviction of ${objectName(workload)} at ${replicas} replica(s), so node drains hang: use maxUnavailable: 1`,
              ),
            );
          }
        }
      }
    }
    return found;
  },
};

const hpaConsistent: Rule = {
  name: 'hpa-consistent',
  summary:
    "every HPA targets an existing workload, its floor equals the workload's replicas, it scales on cpu and memory",
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const hpa of ofKind(tree, 'HorizontalPodAutoscaler')) {
        const target = hpa.spec?.scaleTargetRef ?? {};
        const report = (message: string) => found.push(violation(this.name, where(tree, hpa), message));
        const workload = workloads(tree).find(
          (w) =>
            w.kind === target.kind && w.metadata?.name === target.name && w.apiVersion === target.apiVersion,
        );
        if (!workload) {
          report(
            `scaleTargetRef ${target.apiVersion} ${target.kind}/${target.name} matches no workload in ${tree.source}: fix apiVersion, kind or name`,
          );
          continue;
        }
        const floor = hpa.spec?.minReplicas ?? 1;
        const replicas = workload.spec?.replicas ?? 1;
        if (floor !== replicas) {
          report(
            `minReplicas ${floor} differs from ${objectName(workload)} replicas ${replicas}: set both to the env's replica count`,
          );
        }
        if ((hpa.spec?.maxReplicas ?? 0) < floor)
          report(`maxReplicas ${hpa.spec?.maxReplicas} is below minReplicas ${floor}`);
        const scaledOn = (hpa.spec?.metrics ?? [])
          .filter((m: K8sObject) => m.type === 'Resource')
          .map((m: K8sObject) => m.resource?.name);
        for (const resource of ['cpu', 'memory']) {
          if (!scaledOn.includes(resource))
            report(`does not scale on ${resource}: add a Resource metric for it`);
        }
        // A Node process does not give memory back: a memory target its idle footprint already meets keeps
        // the HPA at maxReplicas for good.
        const memoryTarget = (hpa.spec?.metrics ?? []).find(
          (m: K8sObject) => m.type === 'Resource' && m.resource?.name === 'memory',
        )?.resource?.target;
        const serviceContainers = (podSpec(workload).containers ?? []).filter((c: K8sObject) =>
          String(c.image ?? '').startsWith(`${IMAGE_REPOSITORY}/`),
        );
        if (memoryTarget?.type === 'Utilization' && serviceContainers.length > 0) {
          const request = totalRequest(workload, 'memory');
          const threshold = (request * memoryTarget.averageUtilization) / 100;
          if (threshold <= SERVICE_MEMORY_MIB.idle * MIB * serviceContainers.length) {
            report(
              `scales out at ${memoryTarget.averageUtilization}% of a ${Math.round(request / MIB)} MiB memory request = ${Math.round(threshold / MIB)} MiB, which the service's measured idle footprint (${SERVICE_MEMORY_MIB.idle} MiB) already reaches: raise the request or the target`,
            );
          }
        }
      }
    }
    return found;
  },
};

function totalRequest(workload: K8sObject, resource: string): number {
  return (podSpec(workload).containers ?? []).reduce(
    (sum: number, c: K8sObject) => sum + parseQuantity(c.resources?.requests?.[resource]),
    0,
  );
}

const envSizing: Rule = {
  name: 'env-sizing',
  summary: `dev runs ${ENV_REPLICAS.dev} replica per service, prod ${ENV_REPLICAS.prod}, staging in between; requests grow dev -> staging -> prod`,
  check(trees) {
    const found: Violation[] = [];
    const byEnv = new Map(envTrees(trees).map((tree) => [tree.env as string, tree]));
    for (const tree of byEnv.values()) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const replicas = rollout.spec?.replicas ?? 1;
        const report = (message: string) => found.push(violation(this.name, where(tree, rollout), message));
        if (tree.env === 'dev' && replicas !== ENV_REPLICAS.dev)
          report(`dev runs ${ENV_REPLICAS.dev} replica per service, not ${replicas}`);
        if (tree.env === 'prod' && replicas !== ENV_REPLICAS.prod)
          report(`prod runs ${ENV_REPLICAS.prod} replicas per service, not ${replicas}`);
        if (tree.env === 'staging' && !(replicas > ENV_REPLICAS.dev && replicas < ENV_REPLICAS.prod)) {
          report(
            `staging runs between dev (${ENV_REPLICAS.dev}) and prod (${ENV_REPLICAS.prod}) replicas, not ${replicas}`,
          );
        }
      }
    }
    const ordered = ENVIRONMENTS.filter((env) => byEnv.has(env)).map((env) => byEnv.get(env) as RenderedTree);
    for (let index = 1; index < ordered.length; index += 1) {
      const [smaller, larger] = [ordered[index - 1], ordered[index]];
      for (const rollout of ofKind(larger, 'Rollout')) {
        const counterpart = ofKind(smaller, 'Rollout').find(
          (r) => r.metadata?.name === rollout.metadata?.name,
        );
        if (!counterpart) continue;
        for (const resource of ['cpu', 'memory']) {
          if (totalRequest(rollout, resource) < totalRequest(counterpart, resource)) {
            found.push(
              violation(
                this.name,
                where(larger, rollout),
                `requests less ${resource} than in ${smaller.env}: ${larger.env} must be sized at least as large`,
              ),
            );
          }
        }
      }
    }
    return found;
  },
};

interface AnalysisUse {
  label: string;
  templates: K8sObject[];
  args: K8sObject[];
}

function analysisUses(rollout: K8sObject): AnalysisUse[] {
  const canary = rollout.spec?.strategy?.canary ?? {};
  const uses: AnalysisUse[] = [];
  if (canary.analysis) {
    uses.push({
      label: 'background analysis',
      templates: canary.analysis.templates ?? [],
      args: canary.analysis.args ?? [],
    });
  }
  (canary.steps ?? []).forEach((step: K8sObject, index: number) => {
    if (step.analysis) {
      uses.push({
        label: `step ${index} analysis`,
        templates: step.analysis.templates ?? [],
        args: step.analysis.args ?? [],
      });
    }
  });
  return uses;
}

function templateNamed(tree: RenderedTree, reference: K8sObject): K8sObject | undefined {
  const kind = reference.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate';
  return ofKind(tree, kind).find((t) => t.metadata?.name === reference.templateName);
}

const analysisTemplatesResolve: Rule = {
  name: 'analysis-templates-resolve',
  summary:
    'every AnalysisTemplate a Rollout names exists in its env, receives every arg it needs, and uses only args it declares',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const template of ofKind(tree, 'AnalysisTemplate', 'ClusterAnalysisTemplate')) {
        const declared = new Set((template.spec?.args ?? []).map((a: K8sObject) => a.name));
        const used = [
          ...JSON.stringify(template.spec?.metrics ?? []).matchAll(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g),
        ].map((m) => m[1]);
        for (const name of new Set(used)) {
          if (!declared.has(name)) {
            found.push(
              violation(
                this.name,
                where(tree, template),
                `uses {{args.${name}}} but declares no arg "${name}": add it to spec.args`,
              ),
            );
          }
        }
      }
      for (const rollout of ofKind(tree, 'Rollout')) {
        for (const use of analysisUses(rollout)) {
          const supplied = new Set(use.args.map((a) => a.name));
          const accepted = new Set<string>();
          for (const reference of use.templates) {
            const template = templateNamed(tree, reference);
            if (!template) {
              found.push(
                violation(
                  this.name,
                  where(tree, rollout, use.label),
                  `names AnalysisTemplate "${reference.templateName}", which ${tree.source} does not render: include the rollouts component or fix the name`,
                ),
              );
              continue;
            }
            for (const arg of template.spec?.args ?? []) {
              accepted.add(arg.name);
              // A template-side default is a value or a secretKeyRef; a template-side fieldRef is not resolved
              // by the controller (argo-rollouts issue 3361), so the Rollout must pass that arg.
              const hasDefault = arg.value !== undefined || arg.valueFrom?.secretKeyRef !== undefined;
              if (!hasDefault && !supplied.has(arg.name)) {
                found.push(
                  violation(
                    this.name,
                    where(tree, rollout, use.label),
                    `does not pass arg "${arg.name}" that AnalysisTemplate ${reference.templateName} requires: add it under args`,
                  ),
                );
              }
            }
          }
          for (const name of supplied) {
            if (!accepted.has(name)) {
              found.push(
                violation(
                  this.name,
                  where(tree, rollout, use.label),
                  `passes arg "${name}", which none of its AnalysisTemplates declares: remove it or fix its name`,
                ),
              );
            }
          }
        }
      }
    }
    return found;
  },
};

/** Seconds an AnalysisTemplate metric needs to fail a run: initialDelay + interval x (failureLimit + 1). */
export function decisionSeconds(metric: K8sObject): number {
  const initialDelay = metric.initialDelay === undefined ? 0 : parseDurationSeconds(metric.initialDelay);
  const interval = parseDurationSeconds(metric.interval);
  const failureLimit = metric.failureLimit === undefined ? 0 : parseCount(metric.failureLimit);
  return initialDelay + interval * (failureLimit + 1);
}

/** Seconds an AnalysisTemplate metric keeps measuring: initialDelay + interval x (count - 1); Infinity without count. */
export function lifetimeSeconds(metric: K8sObject): number {
  if (metric.count === undefined) return Number.POSITIVE_INFINITY;
  const initialDelay = metric.initialDelay === undefined ? 0 : parseDurationSeconds(metric.initialDelay);
  return initialDelay + parseDurationSeconds(metric.interval) * (parseCount(metric.count) - 1);
}

const pauseBudget: Rule = {
  name: 'pause-budget',
  summary:
    "background analysis decides within the canary's pauses (pause >= initialDelay + interval x (failureLimit + 1)), keeps measuring through all of them, and no pause waits for a human",
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const canary = rollout.spec?.strategy?.canary;
        if (!canary) continue;
        const report = (message: string) => found.push(violation(this.name, where(tree, rollout), message));
        const steps: K8sObject[] = canary.steps ?? [];
        steps.forEach((step, index) => {
          if (step.pause && step.pause.duration === undefined) {
            report(
              `step ${index} pauses until someone promotes by hand: give it a duration so the analysis, not a person, decides`,
            );
          }
        });
        if (!canary.analysis) {
          if (!steps.some((s) => s.analysis))
            report(
              'runs a canary with no analysis: add the rollouts/ AnalysisTemplates so a bad release aborts by itself',
            );
          continue;
        }
        const startingStep = canary.analysis.startingStep ?? 0;
        const pauses = steps.slice(startingStep).filter((s) => s.pause?.duration !== undefined);
        const totalPause = pauses.reduce((sum, s) => sum + parseDurationSeconds(s.pause.duration), 0);
        const firstPause = pauses.length > 0 ? parseDurationSeconds(pauses[0].pause.duration) : 0;
        for (const reference of canary.analysis.templates ?? []) {
          const template = templateNamed(tree, reference);
          for (const metric of template?.spec?.metrics ?? []) {
            const decision = decisionSeconds(metric);
            const lifetime = lifetimeSeconds(metric);
            const name = `${reference.templateName}/${metric.name}`;
            if (!(totalPause >= decision)) {
              report(
                `pauses ${totalPause}s in total after step ${startingStep}, less than the ${decision}s ${name} needs to fail a bad canary: lengthen the pauses`,
              );
            } else if (!(firstPause >= decision)) {
              report(
                `its first pause (${firstPause}s) ends before ${name} can decide (${decision}s): the canary reaches a larger weight unjudged; lengthen it`,
              );
            }
            if (!(lifetime >= totalPause)) {
              report(
                `${name} stops measuring after ${lifetime}s but the canary pauses ${totalPause}s: raise the metric's count so every weight is analysed`,
              );
            }
          }
        }
      }
    }
    return found;
  },
};

const analysisNoTrafficInconclusive: Rule = {
  name: 'analysis-no-traffic-inconclusive',
  summary:
    'every analysis metric has success and failure conditions guarding empty and NaN results, and inconclusiveLimit < count, so no traffic never passes',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const template of ofKind(tree, 'AnalysisTemplate', 'ClusterAnalysisTemplate')) {
        for (const metric of template.spec?.metrics ?? []) {
          const report = (message: string) =>
            found.push(violation(this.name, where(tree, template, `metric "${metric.name}"`), message));
          if (!metric.successCondition || !metric.failureCondition) {
            report(
              'needs both successCondition and failureCondition: with one alone, a result that satisfies neither (no traffic) is decided instead of Inconclusive',
            );
          }
          for (const [field, condition] of [
            ['successCondition', metric.successCondition],
            ['failureCondition', metric.failureCondition],
          ] as const) {
            if (!condition) continue;
            if (!/len\(result\)/.test(condition))
              report(
                `${field} reads result[0] without checking len(result): an empty result errors instead of being Inconclusive`,
              );
            if (!/isNaN\(result\[0\]\)/.test(condition))
              report(`${field} does not guard isNaN(result[0]): a 0/0 ratio must be Inconclusive`);
          }
          const count = parseCount(metric.count);
          const inconclusiveLimit =
            metric.inconclusiveLimit === undefined ? 0 : parseCount(metric.inconclusiveLimit);
          if (!Number.isFinite(count)) {
            report('has no count: set how many measurements the run takes');
          } else if (!(inconclusiveLimit < count)) {
            report(
              `inconclusiveLimit ${inconclusiveLimit} is not below count ${count}: a canary with no traffic would finish Successful; lower it`,
            );
          }
          if (metric.consecutiveErrorLimit === undefined)
            report('has no consecutiveErrorLimit: set how many failed queries in a row end the run');
        }
      }
    }
    return found;
  },
};

/** The query an AnalysisRun would send, with each arg replaced by its default or, lacking one, a sample value. */
export function resolvedQuery(template: K8sObject, query: string): string {
  const defaults = new Map<string, string>(
    (template.spec?.args ?? []).map((arg: K8sObject) => [arg.name, arg.value ?? `sample-${arg.name}`]),
  );
  return query.replace(
    /\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g,
    (_, name: string) => defaults.get(name) ?? `sample-${name}`,
  );
}

/** Offset of the first PromQL syntax error, or undefined when the query parses. */
export function promqlSyntaxError(query: string): number | undefined {
  let errorAt: number | undefined;
  promqlParser.parse(query).iterate({
    enter(node) {
      if (node.type.isError && errorAt === undefined) errorAt = node.from;
    },
  });
  return errorAt;
}

const analysisQueriesParse: Rule = {
  name: 'analysis-queries-parse',
  summary: 'every Prometheus query of an AnalysisTemplate is valid PromQL once its args are filled in',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const template of ofKind(tree, 'AnalysisTemplate', 'ClusterAnalysisTemplate')) {
        for (const metric of template.spec?.metrics ?? []) {
          const query = metric.provider?.prometheus?.query;
          if (typeof query !== 'string') continue;
          const resolved = resolvedQuery(template, query);
          const errorAt = promqlSyntaxError(resolved);
          if (errorAt !== undefined) {
            const context = resolved.slice(Math.max(0, errorAt - 30), errorAt + 30).replace(/\s+/g, ' ');
            found.push(
              violation(
                this.name,
                where(tree, template, `metric "${metric.name}"`),
                `query is not valid PromQL near "${context}": fix it before a canary depends on it`,
              ),
            );
          }
        }
      }
    }
    return found;
  },
};

const gracefulShutdown: Rule = {
  name: 'graceful-shutdown',
  summary: 'preStop delay + SHUTDOWN_TIMEOUT_MS fits inside terminationGracePeriodSeconds',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        const grace = podSpec(workload).terminationGracePeriodSeconds ?? 30;
        for (const container of podSpec(workload).containers ?? []) {
          const timeout = containerEnvValue(tree, container, 'SHUTDOWN_TIMEOUT_MS');
          if (timeout === undefined) continue;
          const preStop = Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
          const needed = preStop + Number(timeout) / 1000;
          if (!(needed < grace)) {
            found.push(
              violation(
                this.name,
                where(tree, workload, `container "${container.name}"`),
                `needs ${needed}s to stop (preStop ${preStop}s + SHUTDOWN_TIMEOUT_MS ${timeout}) but is killed after terminationGracePeriodSeconds ${grace}s: raise the grace period or shorten the drain`,
              ),
            );
          }
        }
      }
    }
    return found;
  },
};

const noServiceAccountToken: Rule = {
  name: 'no-service-account-token',
  summary: 'pods that do not call the Kubernetes API get no service-account token',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of workloads(tree)) {
        const pod = podSpec(workload);
        if (pod.automountServiceAccountToken === false) continue;
        const account = ofKind(tree, 'ServiceAccount').find(
          (s) => s.metadata?.name === (pod.serviceAccountName ?? 'default'),
        );
        if (account?.automountServiceAccountToken === false && pod.automountServiceAccountToken === undefined)
          continue;
        found.push(
          violation(
            this.name,
            where(tree, workload),
            'mounts a service-account token it never uses: set automountServiceAccountToken: false',
          ),
        );
      }
    }
    return found;
  },
};

const topologySpread: Rule = {
  name: 'topology-spread',
  summary: 'replicated Rollouts and Deployments spread across nodes and zones',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const workload of ofKind(tree, 'Rollout', 'Deployment')) {
        const keys = (podSpec(workload).topologySpreadConstraints ?? []).map((c: K8sObject) => c.topologyKey);
        for (const key of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) {
          if (!keys.includes(key)) {
            found.push(
              violation(
                this.name,
                where(tree, workload),
                `has no topologySpreadConstraint on ${key}: one node or zone outage could take every replica`,
              ),
            );
          }
        }
      }
    }
    return found;
  },
};

const canarySeriesLabelled: Rule = {
  name: 'canary-series-labelled',
  summary:
    'every analysed Rollout is scraped by a ServiceMonitor Prometheus selects, carrying rollouts-pod-template-hash, through a Service Argo Rollouts does not rewrite',
  check(trees) {
    const found: Violation[] = [];
    const argocd = argocdTrees(trees)[0];
    const prometheusSelector = argocd
      ? ofKind(argocd, 'Application').find((a) => a.spec?.source?.chart === 'kube-prometheus-stack')?.spec
          ?.source?.helm?.valuesObject?.prometheus?.prometheusSpec?.serviceMonitorSelector
      : undefined;
    for (const tree of envTrees(trees)) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        if (analysisUses(rollout).length === 0) continue;
        const report = (message: string) => found.push(violation(this.name, where(tree, rollout), message));
        const canary = rollout.spec?.strategy?.canary ?? {};
        const rewritten = new Set([canary.stableService, canary.canaryService].filter(Boolean));
        const services = ofKind(tree, 'Service').filter((s) => serviceSelects(s, podLabels(rollout)));
        const monitors = ofKind(tree, 'ServiceMonitor').filter((m) =>
          services.some((s) => selectorMatches(m.spec?.selector, s.metadata?.labels ?? {})),
        );
        if (monitors.length === 0) {
          report('no ServiceMonitor scrapes its pods: the analysis would never see the canary');
          continue;
        }
        for (const monitor of monitors) {
          const scraped = services.filter((s) =>
            selectorMatches(monitor.spec?.selector, s.metadata?.labels ?? {}),
          );
          for (const service of scraped.filter((s) => rewritten.has(s.metadata?.name))) {
            report(
              `${objectName(monitor)} scrapes Service ${service.metadata.name}, whose selector Argo Rollouts rewrites during a canary: the canary's series would carry the wrong service label; scrape a Service that always selects every pod`,
            );
          }
          if (!(monitor.spec?.podTargetLabels ?? []).includes('rollouts-pod-template-hash')) {
            report(
              `${objectName(monitor)} does not carry rollouts-pod-template-hash (podTargetLabels): the analysis cannot select the canary's series`,
            );
          }
          if (prometheusSelector && !selectorMatches(prometheusSelector, monitor.metadata?.labels ?? {})) {
            report(
              `${objectName(monitor)} lacks the labels ${JSON.stringify(prometheusSelector.matchLabels ?? {})} the kube-prometheus-stack Prometheus selects: it would never be scraped`,
            );
          }
        }
      }
    }
    return found;
  },
};

const trafficRouterWired: Rule = {
  name: 'traffic-router-wired',
  summary:
    'a Rollout routed by the Gateway API plugin names its own namespace and an HTTPRoute whose backends are its stable and canary Services',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees) {
      for (const rollout of ofKind(tree, 'Rollout')) {
        const canary = rollout.spec?.strategy?.canary ?? {};
        const plugin = canary.trafficRouting?.plugins?.['argoproj-labs/gatewayAPI'];
        if (!plugin) continue;
        const report = (message: string) => found.push(violation(this.name, where(tree, rollout), message));
        if (plugin.namespace !== rollout.metadata?.namespace) {
          report(
            `the Gateway API plugin looks for HTTPRoute ${plugin.httpRoute} in namespace "${plugin.namespace ?? ''}", not the Rollout's "${rollout.metadata?.namespace}": keep the namespace replacement in ${tree.source}/kustomization.yaml`,
          );
        }
        const route = ofKind(tree, 'HTTPRoute').find((r) => r.metadata?.name === plugin.httpRoute);
        if (!route) {
          report(
            `the Gateway API plugin routes HTTPRoute "${plugin.httpRoute}", which ${tree.source} does not render`,
          );
          continue;
        }
        const backends = new Set(
          (route.spec?.rules ?? []).flatMap((rule: K8sObject) =>
            (rule.backendRefs ?? []).map((b: K8sObject) => b.name),
          ),
        );
        for (const [role, service] of [
          ['stableService', canary.stableService],
          ['canaryService', canary.canaryService],
        ]) {
          if (!service) report(`routes traffic but sets no ${role}`);
          else if (!backends.has(service))
            report(
              `HTTPRoute ${route.metadata.name} has no backendRef to its ${role} "${service}": the plugin could not shift weight to it`,
            );
          else if (!ofKind(tree, 'Service').some((s) => s.metadata?.name === service))
            report(`${role} "${service}" is not rendered`);
        }
      }
    }
    return found;
  },
};

const chaosOffInProd: Rule = {
  name: 'chaos-off-in-prod',
  summary: 'fault-injection knobs (CHAOS_*) are 0 or unset in prod',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of trees.filter((t) => t.env === 'prod')) {
      for (const configMap of ofKind(tree, 'ConfigMap')) {
        for (const [key, value] of Object.entries(configMap.data ?? {})) {
          if (key.startsWith('CHAOS_') && Number(value) !== 0) {
            found.push(
              violation(
                this.name,
                where(tree, configMap),
                `${key}=${String(value)} injects faults in prod: set it to 0`,
              ),
            );
          }
        }
      }
      for (const workload of workloads(tree)) {
        for (const { container, label } of containersOf(workload)) {
          for (const variable of container.env ?? []) {
            if (
              String(variable.name).startsWith('CHAOS_') &&
              (variable.valueFrom || Number(variable.value) !== 0)
            ) {
              found.push(
                violation(
                  this.name,
                  where(tree, workload, label),
                  `${variable.name} injects faults in prod: set it to "0" or remove it`,
                ),
              );
            }
          }
        }
      }
    }
    return found;
  },
};

function applicationSpecs(tree: RenderedTree): { owner: K8sObject; spec: K8sObject }[] {
  return [
    ...ofKind(tree, 'Application').map((app) => ({ owner: app, spec: app.spec ?? {} })),
    ...ofKind(tree, 'ApplicationSet').map((set) => ({ owner: set, spec: set.spec?.template?.spec ?? {} })),
  ];
}

function sourcesOf(spec: K8sObject): K8sObject[] {
  return spec.sources ?? (spec.source ? [spec.source] : []);
}

/** The root Application (argocd/bootstrap): the one that syncs the argocd/ tree itself. */
function isRootApplication(object: K8sObject): boolean {
  return object.kind === 'Application' && object.spec?.source?.path === ARGOCD_DIRECTORY;
}

/** The repository and branch Argo CD tracks: the root Application's own source. */
function trackedRepository(tree: RenderedTree): { repoURL?: string; revision?: string } {
  const root = ofKind(tree, 'Application').find(isRootApplication);
  return { repoURL: root?.spec?.source?.repoURL, revision: root?.spec?.source?.targetRevision };
}

const argocdPinnedRevisions: Rule = {
  name: 'argocd-pinned-revisions',
  summary:
    'every Application belongs to the opsforge AppProject; charts pinned to an exact version, this repository at the branch the root tracks, other git sources at a commit',
  check(trees) {
    const found: Violation[] = [];
    for (const tree of argocdTrees(trees)) {
      const tracked = trackedRepository(tree);
      const projects = new Set(ofKind(tree, 'AppProject').map((p) => p.metadata?.name));
      for (const { owner, spec } of applicationSpecs(tree)) {
        const report = (message: string) => found.push(violation(this.name, where(tree, owner), message));
        // The root lives in `default` because it creates the opsforge project; nothing else may.
        if (!isRootApplication(owner) && (spec.project !== 'opsforge' || !projects.has(spec.project))) {
          report(
            `is in project "${spec.project}": put it in the opsforge AppProject (argocd/projects/opsforge.yaml)`,
          );
        }
        for (const source of sourcesOf(spec)) {
          const revision = String(source.targetRevision ?? '');
          if (source.chart) {
            if (!SEMVER.test(revision))
              report(
                `chart ${source.chart} at "${revision}" is not an exact version: pin targetRevision to x.y.z`,
              );
          } else if (source.repoURL === tracked.repoURL) {
            if (revision !== tracked.revision)
              report(
                `follows this repository at "${revision}" while the root Application tracks "${tracked.revision}": use the same branch`,
              );
          } else if (!COMMIT_SHA.test(revision)) {
            report(
              `git source ${source.repoURL} at "${revision}" can move: pin targetRevision to a 40-character commit`,
            );
          }
        }
        for (const generator of owner.spec?.generators ?? []) {
          if (
            generator.git &&
            (generator.git.repoURL !== tracked.repoURL || generator.git.revision !== tracked.revision)
          ) {
            report(
              `git generator reads ${generator.git.repoURL}@${generator.git.revision}, not the tracked ${tracked.repoURL}@${tracked.revision}`,
            );
          }
        }
      }
    }
    return found;
  },
};

const argocdSourcesExist: Rule = {
  name: 'argocd-sources-exist',
  summary: 'every path an Application or the env ApplicationSet reads from this repository exists in it',
  check(trees, root) {
    const found: Violation[] = [];
    for (const tree of argocdTrees(trees)) {
      const tracked = trackedRepository(tree);
      for (const { owner, spec } of applicationSpecs(tree)) {
        const report = (message: string) => found.push(violation(this.name, where(tree, owner), message));
        const sources = sourcesOf(spec);
        const valuesReference = sources.find((s) => s.ref && s.repoURL === tracked.repoURL)?.ref;
        for (const source of sources) {
          if (
            source.repoURL === tracked.repoURL &&
            source.path !== undefined &&
            !String(source.path).includes('{{')
          ) {
            const directory = join(root, source.path);
            if (!existsSync(directory) || !statSync(directory).isDirectory()) {
              report(
                `source path "${source.path}" does not exist in this repository: Argo CD would fail to generate manifests`,
              );
            }
          }
          for (const file of source.helm?.valueFiles ?? []) {
            const prefix = `$${valuesReference}/`;
            if (
              valuesReference &&
              String(file).startsWith(prefix) &&
              !existsSync(join(root, String(file).slice(prefix.length)))
            ) {
              report(`values file "${file}" does not exist in this repository`);
            }
          }
        }
        for (const generator of owner.spec?.generators ?? []) {
          for (const directory of generator.git?.directories ?? []) {
            const pattern = String(directory.path);
            const parent = join(root, pattern.replace(/\/\*$/, ''));
            const matches =
              pattern.endsWith('/*') && existsSync(parent)
                ? readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).length
                : Number(existsSync(join(root, pattern)));
            if (matches === 0)
              report(
                `git generator directory "${pattern}" matches nothing in this repository: no Application would be generated`,
              );
          }
        }
      }
    }
    return found;
  },
};

function templatedNamespaces(namespace: string, envs: string[]): string[] {
  return namespace.includes('{{') ? envs : [namespace];
}

const appProjectScope: Rule = {
  name: 'appproject-scope',
  summary:
    "every Application's sources and destinations are allowed by its AppProject, and every env namespace is a destination",
  check(trees) {
    const found: Violation[] = [];
    const envs = envTrees(trees).map((t) => t.env as string);
    for (const tree of argocdTrees(trees)) {
      for (const { owner, spec } of applicationSpecs(tree)) {
        const project = ofKind(tree, 'AppProject').find((p) => p.metadata?.name === spec.project);
        if (!project) continue;
        const report = (message: string) => found.push(violation(this.name, where(tree, owner), message));
        const allowedRepos: string[] = project.spec?.sourceRepos ?? [];
        for (const source of sourcesOf(spec)) {
          if (!allowedRepos.includes('*') && !allowedRepos.includes(source.repoURL)) {
            report(
              `source ${source.repoURL} is not in AppProject ${spec.project} sourceRepos: add it there or fix the URL`,
            );
          }
        }
        const destinations: K8sObject[] = project.spec?.destinations ?? [];
        for (const namespace of templatedNamespaces(String(spec.destination?.namespace ?? ''), envs)) {
          const allowed = destinations.some(
            (d) =>
              (d.namespace === '*' || d.namespace === namespace) &&
              (d.server === '*' || d.server === spec.destination?.server),
          );
          if (!allowed)
            report(
              `deploys to namespace "${namespace}", which AppProject ${spec.project} does not list as a destination`,
            );
        }
      }
    }
    return found;
  },
};

/** Alertmanager configuration keys that hold a credential (or a URL with one in it) unless given as *_file. */
const ALERTMANAGER_CREDENTIAL_KEY = /(^|_)(url|key|secret|password|token|credentials)$/;

/** Paths of inline credentials in an Alertmanager configuration. */
function inlineAlertmanagerCredentials(value: unknown, path: string): string[] {
  if (Array.isArray(value))
    return value.flatMap((item, index) => inlineAlertmanagerCredentials(item, `${path}[${index}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as K8sObject).flatMap(([key, child]) =>
    ALERTMANAGER_CREDENTIAL_KEY.test(key) && typeof child === 'string'
      ? [`${path}.${key}`.replace(/^\./, '')]
      : inlineAlertmanagerCredentials(child, `${path}.${key}`),
  );
}

/** The Secret kube-prometheus-stack's Alertmanager reads its configuration from (alertmanagerSpec.configSecret). */
function alertmanagerConfigSecret(trees: RenderedTree[]): string | undefined {
  const kps = argocdTrees(trees)
    .flatMap((tree) => ofKind(tree, 'Application'))
    .find((app) => app.spec?.source?.chart === 'kube-prometheus-stack');
  return kps?.spec?.source?.helm?.valuesObject?.alertmanager?.alertmanagerSpec?.configSecret;
}

function secretValue(secret: K8sObject, key: string): string | undefined {
  if (secret.stringData?.[key] !== undefined) return String(secret.stringData[key]);
  if (secret.data?.[key] !== undefined)
    return Buffer.from(String(secret.data[key]).replace(/\s/g, ''), 'base64').toString('utf8');
  return undefined;
}

const noSecretDataInGit: Rule = {
  name: 'no-secret-data-in-git',
  summary:
    "no Secret with data is rendered from git (secrets come from the secrets controller); the one exception, Alertmanager's configuration, reads every credential from a file",
  check(trees) {
    const found: Violation[] = [];
    const configSecret = alertmanagerConfigSecret(trees);
    for (const tree of trees) {
      for (const secret of ofKind(tree, 'Secret')) {
        const keys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
        if (keys.length === 0) continue;
        // The prometheus-operator takes Alertmanager's configuration only from a Secret; it is configuration,
        // and stays so as long as every receiver reads its URL or key from a mounted file.
        if (secret.metadata?.name === configSecret && keys.every((k) => k === 'alertmanager.yaml')) {
          let config: unknown;
          try {
            config = parseYaml(secretValue(secret, 'alertmanager.yaml') ?? '');
          } catch (error) {
            found.push(
              violation(
                this.name,
                where(tree, secret),
                `alertmanager.yaml does not parse: ${(error as Error).message.split('\n')[0]}`,
              ),
            );
            continue;
          }
          for (const path of inlineAlertmanagerCredentials(config, '')) {
            found.push(
              violation(
                this.name,
                where(tree, secret),
                `alertmanager.yaml has an inline credential at ${path}: use ${path.split('.').pop()}_file pointing into the alertmanager-receivers Secret`,
              ),
            );
          }
          continue;
        }
        found.push(
          violation(
            this.name,
            where(tree, secret),
            'carries secret data in git: generate it in the cluster with an ExternalSecret (see gitops/base/redis/password.yaml)',
          ),
        );
      }
    }
    return found;
  },
};

const notificationsWired: Rule = {
  name: 'notifications-wired',
  summary:
    'Argo CD notification triggers, templates and services parse, reference each other, link existing runbooks, and every subscription names one that exists',
  check(trees, root) {
    const found: Violation[] = [];
    for (const tree of argocdTrees(trees)) {
      const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === 'argocd-notifications-cm');
      if (!configMap) continue;
      const data: Record<string, string> = configMap.data ?? {};
      const report = (message: string) => found.push(violation(this.name, where(tree, configMap), message));
      const names = (prefix: string) =>
        Object.keys(data)
          .filter((k) => k.startsWith(prefix))
          .map((k) => k.slice(prefix.length));
      const templates = new Set(names('template.'));
      const services = new Set(names('service.webhook.').concat(names('service.')));
      for (const key of Object.keys(data)) {
        let parsed: unknown;
        try {
          parsed = parseYaml(data[key]);
        } catch (error) {
          report(`${key} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
          continue;
        }
        // Every alert has a runbook: a notification posted to Alertmanager names one that exists in docs/runbooks.
        for (const match of data[key].matchAll(/"runbook_url":\s*"([^"]+)"/g)) {
          const file = /\/blob\/[^/]+\/(docs\/runbooks\/[^"#?]+)$/.exec(match[1])?.[1] ?? match[1];
          if (!file.startsWith('docs/runbooks/') || !existsSync(join(root, file))) {
            report(
              `${key} links runbook ${match[1]}, which is not a file in docs/runbooks/: point it at the runbook of that alert`,
            );
          }
        }
        if (key.startsWith('trigger.')) {
          for (const condition of Array.isArray(parsed) ? (parsed as K8sObject[]) : []) {
            for (const template of condition.send ?? []) {
              if (!templates.has(template))
                report(`${key} sends template "${template}", which is not defined: add template.${template}`);
            }
          }
        }
      }
      const triggers = new Set(names('trigger.'));
      for (const subscriber of [...ofKind(tree, 'AppProject'), ...ofKind(tree, 'Application')]) {
        for (const annotation of Object.keys(subscriber.metadata?.annotations ?? {})) {
          const match = /^notifications\.argoproj\.io\/subscribe\.([^.]+)\.(.+)$/.exec(annotation);
          if (!match) continue;
          if (!triggers.has(match[1]))
            found.push(
              violation(
                this.name,
                where(tree, subscriber),
                `subscribes to trigger "${match[1]}", which argocd-notifications-cm does not define`,
              ),
            );
          if (!services.has(match[2]))
            found.push(
              violation(
                this.name,
                where(tree, subscriber),
                `subscribes through service "${match[2]}", which argocd-notifications-cm does not define`,
              ),
            );
        }
      }
    }
    return found;
  },
};

export const RULES: Rule[] = [
  contractNames,
  podSecurityRestricted,
  nodeWritableTmp,
  redisMemoryHeadroom,
  probes,
  resources,
  immutableImageTags,
  workloadHasPdb,
  workloadHasNetworkPolicy,
  pdbAllowsEviction,
  hpaConsistent,
  envSizing,
  analysisTemplatesResolve,
  pauseBudget,
  analysisNoTrafficInconclusive,
  analysisQueriesParse,
  gracefulShutdown,
  noServiceAccountToken,
  topologySpread,
  canarySeriesLabelled,
  trafficRouterWired,
  chaosOffInProd,
  argocdPinnedRevisions,
  argocdSourcesExist,
  appProjectScope,
  noSecretDataInGit,
  notificationsWired,
];

export function checkRules(trees: RenderedTree[], root: string, rules: Rule[] = RULES): Violation[] {
  return rules.flatMap((rule) => rule.check(trees, root));
}
