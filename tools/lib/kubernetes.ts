// The one typed model of the Kubernetes and Argo objects the tools read: each kind typed with the interface its
// @kubernetes-models package publishes, plus Kubernetes semantics the tools share (object names, label
// selectors, pod specs, resource quantities).
//
// Why the interfaces are honest: rendered YAML is only known to be a mapping with an apiVersion and a kind
// (parseObjects checks that much); verify-gitops' schema check (tools/verify-gitops/schema.ts) validates every
// object against the schema of the same packages and reports each one that does not match, so the rules read
// objects of the shape these interfaces describe. What no package describes stays `unknown` and is narrowed
// where it is read.
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import type { IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import type { IApplication } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import type { IApplicationSet } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSet';
import type { IAppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject';
import type { IAnalysisRun } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisRun';
import type { IAnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate';
import type { IClusterAnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/ClusterAnalysisTemplate';
import type { IRollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import type { IClusterSecretStore } from '@kubernetes-models/external-secrets/external-secrets.io/v1/ClusterSecretStore';
import type { IExternalSecret } from '@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret';
import type { ISecretStore } from '@kubernetes-models/external-secrets/external-secrets.io/v1/SecretStore';
import type { IPassword } from '@kubernetes-models/external-secrets/generators.external-secrets.io/v1alpha1/Password';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import type { IProbe } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/Probe';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

export type { ILabelSelector, IObjectMeta, IContainer, IPodSpec };

/** Any rendered object: what every kind has, every other field unknown until its kind says what it is. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata?: IObjectMeta;
  [field: string]: unknown;
}

/** What names an object in a message: its kind and metadata. Every typed object has both. */
export interface ObjectIdentity {
  kind: string;
  metadata?: IObjectMeta;
}

/**
 * Each kind the tools read, as its package types it. Keyed by kind: this repository uses one apiVersion per kind
 * (the one of the interface here); the schema check validates each object against its own apiVersion.
 */
export interface KindMap {
  AnalysisRun: IAnalysisRun;
  AnalysisTemplate: IAnalysisTemplate;
  AppProject: IAppProject;
  Application: IApplication;
  ApplicationSet: IApplicationSet;
  ClusterAnalysisTemplate: IClusterAnalysisTemplate;
  ClusterSecretStore: IClusterSecretStore;
  ConfigMap: IConfigMap;
  CronJob: ICronJob;
  DaemonSet: IDaemonSet;
  Deployment: IDeployment;
  ExternalSecret: IExternalSecret;
  Gateway: IGateway;
  HTTPRoute: IHTTPRoute;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  Job: IJob;
  Namespace: INamespace;
  NetworkPolicy: INetworkPolicy;
  Password: IPassword;
  PodDisruptionBudget: IPodDisruptionBudget;
  PodMonitor: IPodMonitor;
  Probe: IProbe;
  PrometheusRule: IPrometheusRule;
  Rollout: IRollout;
  Secret: ISecret;
  SecretStore: ISecretStore;
  Service: IService;
  ServiceAccount: IServiceAccount;
  ServiceMonitor: IServiceMonitor;
  StatefulSet: IStatefulSet;
}

/** The type of an object of kind `K`: its interface when KindMap has one, else the untyped KubernetesObject. */
export type ObjectOfKind<K extends string> = K extends keyof KindMap ? KindMap[K] : KubernetesObject;

/** Where accessors read objects: a rendered tree, or any list of objects. */
export type ObjectSource = { objects: readonly KubernetesObject[] };

/** Whether `object` is of one of `kinds` (and so of the interface KindMap gives it). */
export function isKind<K extends string>(
  object: KubernetesObject,
  ...kinds: K[]
): object is KubernetesObject & ObjectOfKind<K> {
  return (kinds as string[]).includes(object.kind);
}

/** The objects of one of `kinds`, in order, typed by kind: `ofKind(tree, 'Rollout')` is IRollout[]. */
export function ofKind<K extends string>(tree: ObjectSource, ...kinds: K[]): ObjectOfKind<K>[] {
  return tree.objects.filter((object) => isKind(object, ...kinds));
}

/** The kinds that run pods from a template and that the pod rules hold to the same standard. */
export const WORKLOAD_KINDS = ['Rollout', 'Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type Workload = ObjectOfKind<(typeof WORKLOAD_KINDS)[number]>;
/** Anything with a pod template: the workloads, and the Jobs (e.g. an AnalysisTemplate's job metrics). */
export type PodTemplateOwner = Workload | IJob;

export function workloads(tree: ObjectSource): Workload[] {
  return ofKind(tree, ...WORKLOAD_KINDS);
}

/** The pod spec of a workload's template; its fields are absent when the template is (e.g. a workloadRef Rollout). */
export function podSpec(owner: PodTemplateOwner): Partial<IPodSpec> {
  return owner.spec?.template?.spec ?? {};
}

export function podLabels(owner: PodTemplateOwner): Record<string, string> {
  return owner.spec?.template?.metadata?.labels ?? {};
}

export interface NamedContainer {
  container: IContainer;
  /** How a message names it, e.g. `container "api"` or `initContainer "wait"`. */
  label: string;
}

/** Every container of a workload's pod, init containers first. */
export function containersOf(owner: PodTemplateOwner): NamedContainer[] {
  const spec = podSpec(owner);
  return [
    ...(spec.initContainers ?? []).map((c) => ({ container: c, label: `initContainer "${c.name}"` })),
    ...(spec.containers ?? []).map((c) => ({ container: c, label: `container "${c.name}"` })),
  ];
}

/** spec.replicas where the kind has it (a DaemonSet runs one per node and has none). */
export function declaredReplicas(workload: Workload): number | undefined {
  return workload.kind === 'DaemonSet' ? undefined : workload.spec?.replicas;
}

/**
 * The Jobs the Argo Rollouts controller creates for AnalysisTemplate `job` metrics (one per measurement, in the
 * Rollout's namespace: upstream ledger rollouts-job-metric-one-job-per-measurement), as Job objects named
 * `<template>.<metric>`: the pod rules hold them to what every workload gives up.
 */
export function analysisJobs(tree: ObjectSource): IJob[] {
  return ofKind(tree, 'AnalysisTemplate', 'ClusterAnalysisTemplate').flatMap((template) =>
    (template.spec.metrics ?? []).flatMap((metric) => {
      const job = metric.provider.job;
      if (!job) return [];
      return [
        {
          apiVersion: 'batch/v1' as const,
          kind: 'Job' as const,
          metadata: {
            name: `${template.metadata?.name}.${metric.name}`,
            namespace: template.metadata?.namespace,
            labels: job.metadata?.labels ?? {},
          },
          spec: job.spec,
        },
      ];
    }),
  );
}

/** Replicas a workload keeps at least: the HPA floor when an HPA targets it, else spec.replicas (default 1). */
export function minimumReplicas(tree: ObjectSource, workload: Workload): number {
  const hpa = ofKind(tree, 'HorizontalPodAutoscaler').find(
    (h) =>
      h.spec?.scaleTargetRef.kind === workload.kind &&
      h.spec?.scaleTargetRef.name === workload.metadata?.name,
  );
  if (hpa) return hpa.spec?.minReplicas ?? 1;
  return declaredReplicas(workload) ?? 1;
}

/** The objects of `kind` whose selector (read by `selectorOf`) matches the owner's pod labels. */
export function matchingObjects<K extends string>(
  tree: ObjectSource,
  kind: K,
  owner: PodTemplateOwner,
  selectorOf: (object: ObjectOfKind<K>) => ILabelSelector | undefined,
): ObjectOfKind<K>[] {
  return ofKind(tree, kind).filter((candidate) => selectorMatches(selectorOf(candidate), podLabels(owner)));
}

/** The value of an environment variable a container sees: its env list first, then its envFrom ConfigMaps. */
export function containerEnvValue(
  tree: ObjectSource,
  container: IContainer,
  variable: string,
): string | undefined {
  const direct = (container.env ?? []).find((e) => e.name === variable);
  if (direct && direct.value !== undefined) return String(direct.value);
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    if (!name) continue;
    const configMap = ofKind(tree, 'ConfigMap').find((c) => c.metadata?.name === name);
    const value = configMap?.data?.[variable];
    if (value !== undefined) return String(value);
  }
  return undefined;
}

export function objectName(object: ObjectIdentity): string {
  return `${object.kind}/${object.metadata?.name ?? '<unnamed>'}`;
}

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions); an empty selector matches all. */
export function selectorMatches(
  selector: ILabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!present || !values.includes(labels[expression.key])) return false;
        break;
      case 'NotIn':
        if (present && values.includes(labels[expression.key])) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A Service's selector is a plain label map; an empty one selects no pod (its endpoints are managed by hand). */
export function serviceSelects(service: Pick<IService, 'spec'>, labels: Record<string, string>): boolean {
  const selector = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A Kubernetes resource quantity ("250m", "1", "128Mi") as a number of base units; NaN if malformed. */
export function parseQuantity(value: unknown): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value ?? '').trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * QUANTITY_SUFFIX[match[2] ?? ''];
}

/** A YAML/JSON mapping (not null, not a list): free-form data such as Helm values, read field by field. */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A parsed YAML value that has what every Kubernetes object has: an apiVersion and a kind. */
export function isKubernetesObject(value: unknown): value is KubernetesObject {
  return isMapping(value) && typeof value.apiVersion === 'string' && typeof value.kind === 'string';
}
