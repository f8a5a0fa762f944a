// JSON schemas for kubeconform from the CustomResourceDefinitions the pinned charts and releases install, so
// custom resources are validated against exactly the controller versions we deploy (the datreeio CRDs-catalog
// holds whatever versions its maintainers last extracted, not ours). It follows kubeconform's own
// scripts/openapi2jsonschema.py (v0.7.0) with DENY_ROOT_ADDITIONAL_PROPERTIES, i.e. kubectl's strictness: every
// object schema that lists its properties rejects any other field, unless it allows them itself
// (additionalProperties, x-kubernetes-preserve-unknown-fields). Files are laid out for kubeconform's
// `-schema-location 'DIR/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'` (kind lower-cased).
//
// Built-in kinds are not converted: the platform workflow validates them against the API server of the pinned
// kind node image (server-side dry run), which is the Kubernetes version the e2e runs.

type Schema = Record<string, unknown>;

interface Crd {
  kind: 'CustomResourceDefinition';
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served?: boolean; schema?: { openAPIV3Schema?: Schema } }[];
  };
}

export interface KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function isCrd(document: unknown): document is Crd {
  return (
    isObject(document) &&
    document.kind === 'CustomResourceDefinition' &&
    typeof document.apiVersion === 'string' &&
    document.apiVersion.startsWith('apiextensions.k8s.io/')
  );
}

/** kubectl's strictness on an OpenAPI v3 schema from a CRD, as a plain JSON schema kubeconform can read. */
export function strictSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictSchema);
  if (!isObject(schema)) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    // `properties` maps field names to schemas: its keys are names, not keywords.
    out[key] =
      key === 'properties' && isObject(value)
        ? Object.fromEntries(Object.entries(value).map(([name, child]) => [name, strictSchema(child)]))
        : strictSchema(value);
  }
  if (out['x-kubernetes-int-or-string'] === true && !out.anyOf && !out.oneOf) {
    delete out.type;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  const preservesUnknown = out['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(out.properties) && !('additionalProperties' in out) && !preservesUnknown)
    out.additionalProperties = false;
  return out;
}

/** One schema file per served version of every CRD, keyed by its path under the schema folder. */
export function schemasFromCrds(documents: unknown[]): Map<string, unknown> {
  const files = new Map<string, unknown>();
  for (const document of documents.filter(isCrd)) {
    for (const version of document.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema || version.served === false) continue;
      files.set(
        `${document.spec.group}/${document.spec.names.kind.toLowerCase()}_${version.name}.json`,
        strictSchema(schema),
      );
    }
  }
  return files;
}

/** API groups the Kubernetes API server serves itself (everything else needs a CRD). */
const BUILT_IN_GROUPS = new Set([
  '',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'flowcontrol.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
]);

export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

export interface Split {
  builtIn: KubernetesObject[];
  custom: KubernetesObject[];
  /** Custom resources no CRD among the pinned ones defines: a kind no pinned controller would accept. */
  unknown: string[];
}

/** Sorts rendered objects into built-in kinds, custom resources with a schema, and custom resources without. */
export function splitForValidation(objects: KubernetesObject[], schemaFiles: Iterable<string>): Split {
  const known = new Set(schemaFiles);
  const split: Split = { builtIn: [], custom: [], unknown: [] };
  for (const object of objects) {
    const apiVersion = object.apiVersion ?? '';
    const group = groupOf(apiVersion);
    if (BUILT_IN_GROUPS.has(group)) {
      split.builtIn.push(object);
      continue;
    }
    const version = apiVersion.slice(apiVersion.indexOf('/') + 1);
    const file = `${group}/${(object.kind ?? '').toLowerCase()}_${version}.json`;
    if (known.has(file)) split.custom.push(object);
    else
      split.unknown.push(
        `${apiVersion} ${object.kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name ?? ''}: no pinned CRD defines it`,
      );
  }
  return split;
}
