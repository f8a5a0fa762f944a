// The CRD schemas for the kinds no kubernetes-models package ships (the redis-operator's RedisReplication and
// RedisSentinel): each served version's openAPIV3Schema, taken from the upstream CRD at the pinned tag
// (tools/verify-gitops/upstream.yaml records which), saved as crd-schemas/<group>_<version>_<Kind>.json, and
// read by schema.ts. Regenerate after a version bump, from the CRDs read at the new tag:
//
//   git -C <redis-operator clone> show v0.26.0:config/crd/bases/redis.redis.opstreelabs.in_redisreplications.yaml \
//     > /tmp/rr.yaml && npx tsx tools/verify-gitops/crd-schemas.ts /tmp/rr.yaml
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { isKubernetesObject } from '../lib/kubernetes';

export const CRD_SCHEMA_DIRECTORY = join(__dirname, 'crd-schemas');

export function crdSchemaFile(group: string, version: string, kind: string): string {
  return join(CRD_SCHEMA_DIRECTORY, `${group}_${version}_${kind}.json`);
}

type JsonSchema = Record<string, unknown>;

/**
 * The schema Kubernetes validates against, made strict: every object schema that lists its properties and does not
 * preserve unknown fields rejects others, as strict-fields.ts does for the model packages (a structural schema
 * would prune a misspelt field silently).
 */
function withoutUnknownFields(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutUnknownFields);
  if (schema === null || typeof schema !== 'object') return schema;
  const node = Object.fromEntries(
    Object.entries(schema as JsonSchema).map(([key, value]) => [key, withoutUnknownFields(value)]),
  );
  if (
    node.properties !== undefined &&
    node.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true
  )
    node.additionalProperties = false;
  return node;
}

const crdValidators = new Map<string, ValidateFunction | null>();
const ajv = addFormats(new Ajv({ strict: false, allErrors: true, logger: false }));

/** The validator of a CRD schema saved here, or null when none is saved for the kind. */
function crdValidator(apiVersion: string, kind: string): ValidateFunction | null {
  const [group, version] = apiVersion.split('/');
  const file = version === undefined ? undefined : crdSchemaFile(group, version, kind);
  if (!file) return null;
  if (!crdValidators.has(file))
    crdValidators.set(
      file,
      existsSync(file)
        ? ajv.compile(withoutUnknownFields(JSON.parse(readFileSync(file, 'utf8'))) as JsonSchema)
        : null,
    );
  return crdValidators.get(file) ?? null;
}

/**
 * Why `object` does not match its saved CRD schema (undefined when it does), or null when no schema is saved for
 * its kind (or it has no apiVersion/kind to look one up by).
 */
export function crdSchemaProblem(object: unknown): string | undefined | null {
  if (!isKubernetesObject(object)) return null;
  const { apiVersion, kind } = object;
  const validator = crdValidator(apiVersion, kind);
  if (!validator) return null;
  if (validator(object)) return undefined;
  const details = (validator.errors ?? [])
    .slice(0, 5)
    .map(
      (error) =>
        `${error.instancePath || '/'} ${error.message ?? 'is invalid'}${
          typeof error.params?.additionalProperty === 'string' ? ` (${error.params.additionalProperty})` : ''
        }`,
    )
    .join('; ');
  return `does not match the ${apiVersion} ${kind} schema (the upstream CRD, tools/verify-gitops/crd-schemas): ${details}`;
}

interface CustomResourceDefinition {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: object } }[];
  };
}

/** Write the schema of every served version of the CRDs in `files`; returns the files written. */
export function saveCrdSchemas(files: string[]): string[] {
  const written: string[] = [];
  for (const file of files) {
    const crd = parseYaml(readFileSync(file, 'utf8')) as CustomResourceDefinition;
    if (crd?.kind !== 'CustomResourceDefinition')
      throw new Error(`${file} is not a CustomResourceDefinition`);
    for (const version of crd.spec.versions.filter((v) => v.served && v.schema?.openAPIV3Schema)) {
      const target = crdSchemaFile(crd.spec.group, version.name, crd.spec.names.kind);
      writeFileSync(target, `${JSON.stringify(version.schema!.openAPIV3Schema)}\n`);
      written.push(target);
    }
  }
  return written;
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: tsx tools/verify-gitops/crd-schemas.ts <crd.yaml>...');
    process.exit(64);
  }
  for (const written of saveCrdSchemas(files)) console.log(`wrote ${written}`);
}
