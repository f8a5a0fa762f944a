// What every pod gives up (the workloads' and the Jobs of AnalysisTemplate job metrics): the restricted Pod Security
// level, a writable /tmp only where Node needs one, no service-account token, and ingress only from the clients a
// NetworkPolicy names.
import type { IEmptyDirVolumeSource } from 'kubernetes-models/v1/EmptyDirVolumeSource';
import {
  analysisJobs,
  containerEnvValue,
  containersOf,
  type IContainer,
  matchingObjects,
  ofKind,
  podSpec,
  type PodTemplateOwner,
  workloads,
} from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { defineRule } from './define-rule';
import { eachContainer, eachWorkload, isServiceContainer } from './visits';

/** Every pod a tree runs: its workloads' and those of the Jobs AnalysisTemplate job metrics start. */
function podOwners(tree: RenderedTree): PodTemplateOwner[] {
  return [...workloads(tree), ...analysisJobs(tree)];
}

const podSecurityRestricted = defineRule({
  name: 'pod-security-restricted',
  summary:
    'every container runs non-root, read-only, without privilege escalation, all capabilities dropped, seccomp RuntimeDefault',
  check({ trees, flag }) {
    for (const { tree, workload, at } of eachWorkload(trees, podOwners)) {
      const pod = podSpec(workload);
      const podContext = pod.securityContext ?? {};
      for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
        if (pod[field] === true)
          flag(at, `${field} is forbidden by the restricted Pod Security level: remove it`);
      }
      for (const volume of pod.volumes ?? []) {
        if (volume.hostPath)
          flag(at, `volume "${volume.name}" is a hostPath: use an emptyDir, ConfigMap, Secret or PVC`);
      }
      for (const { container, label } of containersOf(workload)) {
        const report = (message: string) => flag(where(tree, workload, label), message);
        const context = container.securityContext ?? {};
        const runAsNonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
        if (runAsNonRoot !== true) report('must run as non-root: set securityContext.runAsNonRoot: true');
        if ((context.runAsUser ?? podContext.runAsUser) === 0)
          report("runs as uid 0: set runAsUser to the image's non-root user");
        if (context.privileged === true) report('is privileged: remove securityContext.privileged');
        if (context.allowPrivilegeEscalation !== false) {
          report('must set securityContext.allowPrivilegeEscalation: false');
        }
        if (context.readOnlyRootFilesystem !== true) {
          report('must set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)');
        }
        const drop: string[] = context.capabilities?.drop ?? [];
        if (!drop.includes('ALL'))
          report('must drop all capabilities: securityContext.capabilities.drop: [ALL]');
        const added: string[] = context.capabilities?.add ?? [];
        if (added.some((capability) => capability !== 'NET_BIND_SERVICE')) {
          report(`adds capabilities ${added.join(', ')}: the restricted level allows only NET_BIND_SERVICE`);
        }
        const seccomp = (context.seccompProfile ?? podContext.seccompProfile)?.type;
        if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
          report('needs a seccomp profile: securityContext.seccompProfile.type: RuntimeDefault');
        }
      }
    }
  },
});

/** Where a container can write: mount paths of its writable emptyDir volumes, with the volume's name and source. */
function writableEmptyDirMounts(
  workload: PodTemplateOwner,
  container: IContainer,
): { path: string; volumeName: string; emptyDir: IEmptyDirVolumeSource }[] {
  const volumes = podSpec(workload).volumes ?? [];
  return (container.volumeMounts ?? []).flatMap((mount) => {
    const volume = volumes.find((v) => v.name === mount.name);
    return volume?.emptyDir && mount.readOnly !== true
      ? [{ path: mount.mountPath, volumeName: volume.name, emptyDir: volume.emptyDir }]
      : [];
  });
}

function isUnder(path: string, directory: string): boolean {
  const base = directory.replace(/\/+$/, '');
  return path === base || path.startsWith(`${base}/`);
}

const nodeWritableTmp = defineRule({
  name: 'node-writable-tmp',
  summary:
    'each service container with a read-only root filesystem has a writable, size-limited emptyDir at /tmp, and NODE_COMPILE_CACHE (if set) lies on one',
  check({ trees, flag }) {
    for (const { tree, workload, container, at } of eachContainer(trees)) {
      // Our Node services write the compile cache (NODE_COMPILE_CACHE, else the OS temp dir) and Node's
      // own temp files; third-party images say for themselves where they write.
      if (!isServiceContainer(container)) continue;
      if (container.securityContext?.readOnlyRootFilesystem !== true) continue;
      const writable = writableEmptyDirMounts(workload, container);
      const tmp = writable.find((mount) => isUnder('/tmp', mount.path));
      if (!tmp) {
        flag(
          at,
          'has a read-only root filesystem but no writable emptyDir at /tmp: Node (and its compile cache) would fail to write there; mount one',
        );
      } else if (tmp.emptyDir.sizeLimit === undefined) {
        flag(
          at,
          `its /tmp emptyDir "${tmp.volumeName}" has no sizeLimit: set one so a runaway writer is evicted instead of filling the node's disk`,
        );
      }
      const cacheDirectory = containerEnvValue(tree, container, 'NODE_COMPILE_CACHE');
      if (cacheDirectory && !writable.some((mount) => isUnder(cacheDirectory, mount.path))) {
        flag(
          at,
          `NODE_COMPILE_CACHE=${cacheDirectory} is not on a writable emptyDir: point it under /tmp or mount one there`,
        );
      }
    }
  },
});

const workloadHasNetworkPolicy = defineRule({
  name: 'workload-has-networkpolicy',
  summary: 'every workload is selected by a NetworkPolicy that restricts ingress',
  check({ trees, flag }) {
    for (const { tree, workload, at } of eachWorkload(trees, podOwners)) {
      const policies = matchingObjects(tree, 'NetworkPolicy', workload, (p) => p.spec?.podSelector).filter(
        (p) => (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
      );
      if (policies.length === 0) {
        flag(
          at,
          'no NetworkPolicy with policyTypes Ingress selects its pods: add one admitting only its real clients',
        );
      }
    }
  },
});

const noServiceAccountToken = defineRule({
  name: 'no-service-account-token',
  summary: 'pods that do not call the Kubernetes API get no service-account token',
  check({ trees, flag }) {
    for (const { tree, workload, at } of eachWorkload(trees, podOwners)) {
      const pod = podSpec(workload);
      if (pod.automountServiceAccountToken === false) continue;
      const account = ofKind(tree, 'ServiceAccount').find(
        (s) => s.metadata?.name === (pod.serviceAccountName ?? 'default'),
      );
      if (account?.automountServiceAccountToken === false && pod.automountServiceAccountToken === undefined)
        continue;
      flag(at, 'mounts a service-account token it never uses: set automountServiceAccountToken: false');
    }
  },
});

export const podHardeningRules = [
  podSecurityRestricted,
  nodeWritableTmp,
  noServiceAccountToken,
  workloadHasNetworkPolicy,
];
