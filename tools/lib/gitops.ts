// The one place that knows how OpsForge's GitOps tree names things: which environments exist and in
// what order a release travels through them, which services ship images, where an environment's image
// tags live, and what a valid tag looks like. bump, promote and render-diff all read it from here.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './cli';
import { Document, isMap, isScalar, isSeq, parse, parseDocument, Scalar, YAMLMap, YAMLSeq } from 'yaml';

/** Promotion order: a release reaches staging only from dev, and prod only from staging. */
export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const SERVICES = ['api', 'worker'] as const;
export type Service = (typeof SERVICES)[number];

export const IMAGE_REPOSITORY = 'ghcr.io/opsforge';

/**
 * Images are tagged with the full git commit sha that built them (release.yml): immutable, and it
 * names the exact source. Short shas are refused because they can become ambiguous as history grows.
 */
export const IMAGE_TAG_PATTERN = /^[0-9a-f]{40}$/;

export function imageName(service: Service): string {
  return `${IMAGE_REPOSITORY}/${service}`;
}

export function isEnvironment(value: string): value is Environment {
  return (ENVIRONMENTS as readonly string[]).includes(value);
}

export function isService(value: string): value is Service {
  return (SERVICES as readonly string[]).includes(value);
}

export function parseEnvironment(value: string | undefined, flag: string): Environment {
  if (value === undefined || value === '')
    throw new UsageError(`${flag} is required (one of: ${ENVIRONMENTS.join(', ')})`);
  if (!isEnvironment(value)) {
    throw new UsageError(
      `unknown environment "${value}" for ${flag}: expected one of ${ENVIRONMENTS.join(', ')}`,
    );
  }
  return value;
}

export function parseService(value: string | undefined, flag: string): Service {
  if (value === undefined || value === '')
    throw new UsageError(`${flag} is required (one of: ${SERVICES.join(', ')})`);
  if (!isService(value)) {
    throw new UsageError(`unknown service "${value}" for ${flag}: expected one of ${SERVICES.join(', ')}`);
  }
  return value;
}

export function parseImageTag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '')
    throw new UsageError(`${flag} is required (a full 40-character git commit sha)`);
  if (!IMAGE_TAG_PATTERN.test(value)) {
    throw new UsageError(
      `malformed image tag "${value}" for ${flag}: expected a full 40-character lowercase git commit sha ` +
        '(images are tagged with the commit that built them; never "latest" or a version name)',
    );
  }
  return value;
}

/** The environment a release must have run in before it may reach `env`, or undefined for dev. */
export function previousEnvironment(env: Environment): Environment | undefined {
  const index = ENVIRONMENTS.indexOf(env);
  return index > 0 ? ENVIRONMENTS[index - 1] : undefined;
}

export function kustomizationPath(root: string, env: Environment): string {
  return join(root, 'gitops', 'envs', env, 'kustomization.yaml');
}

/**
 * Overlays are read with YAML's failsafe schema: every value stays the string written in the file. A sha
 * of decimal digits only (or digits around one "e") would otherwise be read as a number and written back
 * as 1.2345678901234568e+38, corrupting a tag nobody touched.
 */
const READ_AS_WRITTEN = { schema: 'failsafe' } as const;

/** The image tags a kustomization text sets, by service (a service it does not set is absent). */
export function imageTagsIn(text: string): Map<Service, string> {
  const tags = new Map<Service, string>();
  const images: unknown = parseDocument(text, READ_AS_WRITTEN).toJS()?.images;
  if (!Array.isArray(images)) return tags;
  for (const service of SERVICES) {
    const entry = images.find(
      (image: unknown) => (image as { name?: unknown })?.name === imageName(service),
    ) as { newTag?: unknown } | undefined;
    if (entry?.newTag !== undefined && entry.newTag !== null) tags.set(service, String(entry.newTag));
  }
  return tags;
}

/** True when a YAML reader (kustomize's among them) would take the plain text for something else, a number. */
function needsQuotes(tag: string): boolean {
  return parse(tag) !== tag;
}

/** A tag as kustomize must read it: quoted when the plain text would not read back as this string. */
function tagScalar(tag: string): Scalar<string> {
  const scalar = new Scalar(tag);
  if (needsQuotes(tag)) scalar.type = Scalar.QUOTE_DOUBLE;
  return scalar;
}

/**
 * An environment's kustomization, parsed with the `yaml` Document API so that writing it back keeps
 * every comment, the key order and the quoting a reviewer sees in the pull request diff.
 */
export class EnvironmentKustomization {
  private constructor(
    readonly env: Environment,
    readonly path: string,
    private readonly original: string,
    private readonly document: Document,
  ) {}

  static load(root: string, env: Environment): EnvironmentKustomization {
    const path = kustomizationPath(root, env);
    if (!existsSync(path)) throw new Error(`${env}: ${path} does not exist`);
    const text = readFileSync(path, 'utf8');
    const document = parseDocument(text, READ_AS_WRITTEN);
    if (document.errors.length > 0) {
      throw new Error(`${env}: ${path} is not valid YAML: ${document.errors[0].message}`);
    }
    if (!isMap(document.contents)) throw new Error(`${env}: ${path} is not a YAML mapping`);
    return new EnvironmentKustomization(env, path, text, document);
  }

  /** The tag the environment runs for `service`, or undefined when the overlay does not set one. */
  tagOf(service: Service): string | undefined {
    const entry = this.imageEntry(service);
    const tag = entry?.get('newTag');
    return tag === undefined || tag === null ? undefined : String(tag);
  }

  /** Sets the tag and reports whether anything changed; setting the current tag is a no-op. */
  setTag(service: Service, tag: string): boolean {
    if (!IMAGE_TAG_PATTERN.test(tag)) throw new UsageError(`malformed image tag "${tag}"`);
    if (this.tagOf(service) === tag) return false;
    const entry = this.imageEntry(service);
    const current = entry?.get('newTag', true);
    if (isScalar(current)) {
      // Change the value in place: the node keeps its trailing comment ("# set by CI") and its quoting.
      current.value = tag;
      if (needsQuotes(tag)) current.type = Scalar.QUOTE_DOUBLE;
    } else if (entry) {
      entry.set('newTag', tagScalar(tag));
    } else {
      const created = new YAMLMap();
      created.set('name', imageName(service));
      created.set('newTag', tagScalar(tag));
      this.imagesSequence(true)!.add(created);
    }
    return true;
  }

  /** The file as it would be written: unchanged bytes when nothing was set. */
  render(): string {
    // lineWidth 0: never fold a long line, so the only lines that change are the tags that changed.
    return this.document.toString({ lineWidth: 0 });
  }

  isModified(): boolean {
    return this.render() !== this.original;
  }

  save(): void {
    if (this.isModified()) writeFileSync(this.path, this.render());
  }

  private imagesSequence(create: boolean): YAMLSeq | undefined {
    const images = this.document.get('images');
    if (isSeq(images)) return images;
    if (images !== undefined && images !== null) {
      throw new Error(`${this.env}: "images" in ${this.path} is not a list`);
    }
    if (!create) return undefined;
    const created = new YAMLSeq();
    this.document.set('images', created);
    return created;
  }

  private imageEntry(service: Service): YAMLMap | undefined {
    const images = this.imagesSequence(false);
    if (!images) return undefined;
    const matches = images.items.filter(
      (item): item is YAMLMap => isMap(item) && item.get('name') === imageName(service),
    );
    if (matches.length > 1) {
      throw new Error(
        `${this.env}: ${this.path} lists ${imageName(service)} ${matches.length} times under "images"`,
      );
    }
    return matches[0];
  }
}
