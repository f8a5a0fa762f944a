// The one place that knows how OpsForge's GitOps tree names things: which environments exist and in
// what order a release travels through them, which services ship images, where the image references live
// (gitops/images, by tag and digest), which commit of main each environment renders (gitops/envs/<env>/
// revision.yaml), and what a valid tag, digest and revision look like. bump, promote, render-diff and
// verify-gitops all read it from here.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Document, isMap, isScalar, isSeq, parse, parseDocument, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { UsageError } from './cli';

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

/**
 * The content address of what release.yml pushed (the multi-arch index digest from buildx): the tag stands
 * beside it for people, the digest is what the kubelet pulls, so a tag pushed again cannot change a pod.
 */
export const IMAGE_DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** A full commit of this repository: what staging and prod are pinned to. */
export const COMMIT_PATTERN = /^[0-9a-f]{40}$/;

/** The branch dev follows: every merge to main reaches dev at once, nothing else does. */
export const MAIN_BRANCH = 'main';

/** The kustomize Component every env overlay includes: the images release.yml built, by tag and digest. */
export const IMAGES_COMPONENT = 'gitops/images/kustomization.yaml';

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

export function parseImageDigest(value: string | undefined, flag: string): string {
  if (value === undefined || value === '')
    throw new UsageError(`${flag} is required (the image digest the build reported, sha256:<64 hex>)`);
  if (!IMAGE_DIGEST_PATTERN.test(value)) {
    throw new UsageError(
      `malformed image digest "${value}" for ${flag}: expected sha256: and 64 lowercase hex characters ` +
        "(docker/build-push-action's digest output)",
    );
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

export function revisionPath(env: Environment): string {
  return `gitops/envs/${env}/revision.yaml`;
}

/**
 * Overlays are read with YAML's failsafe schema: every value stays the string written in the file. A sha
 * of decimal digits only (or digits around one "e") would otherwise be read as a number and written back
 * as 1.2345678901234568e+38, corrupting a tag nobody touched.
 */
const READ_AS_WRITTEN = { schema: 'failsafe' } as const;

/** One image as an environment names it: the git sha tag for people, the digest for the kubelet. */
export interface ImageRelease {
  tag?: string;
  digest?: string;
}

/** The image reference kustomize renders for a release: name:tag@digest. */
export function imageReference(service: Service, release: ImageRelease): string {
  return `${imageName(service)}${release.tag ? `:${release.tag}` : ''}${release.digest ? `@${release.digest}` : ''}`;
}

/** The images a kustomization text sets, by service (a service it does not set is absent). */
export function imagesIn(text: string): Map<Service, ImageRelease> {
  const releases = new Map<Service, ImageRelease>();
  const images: unknown = parseDocument(text, READ_AS_WRITTEN).toJS()?.images;
  if (!Array.isArray(images)) return releases;
  for (const service of SERVICES) {
    const entry = images.find(
      (image: unknown) => (image as { name?: unknown })?.name === imageName(service),
    ) as { newTag?: unknown; digest?: unknown } | undefined;
    if (!entry) continue;
    const release: ImageRelease = {};
    if (typeof entry.newTag === 'string') release.tag = entry.newTag;
    if (typeof entry.digest === 'string') release.digest = entry.digest;
    releases.set(service, release);
  }
  return releases;
}

/** True when a YAML reader (kustomize's among them) would take the plain text for something else, a number. */
function needsQuotes(tag: string): boolean {
  return parse(tag) !== tag;
}

/** A value as kustomize must read it: quoted when the plain text would not read back as this string. */
function stringScalar(value: string): Scalar<string> {
  const scalar = new Scalar(value);
  if (needsQuotes(value)) scalar.type = Scalar.QUOTE_DOUBLE;
  return scalar;
}

/** Sets `key` of a map to a string in place, so the node keeps its trailing comment and quoting. */
function setString(map: YAMLMap, key: string, value: string): boolean {
  const current = map.get(key, true);
  if (isScalar(current)) {
    if (current.value === value) return false;
    current.value = value;
    if (needsQuotes(value)) current.type = Scalar.QUOTE_DOUBLE;
    return true;
  }
  map.set(key, stringScalar(value));
  return true;
}

function loadDocument(path: string, what: string): { text: string; document: Document } {
  if (!existsSync(path)) throw new Error(`${what}: ${path} does not exist`);
  const text = readFileSync(path, 'utf8');
  const document = parseDocument(text, READ_AS_WRITTEN);
  if (document.errors.length > 0) {
    throw new Error(`${what}: ${path} is not valid YAML: ${document.errors[0].message}`);
  }
  if (!isMap(document.contents)) throw new Error(`${what}: ${path} is not a YAML mapping`);
  return { text, document };
}

/** A YAML file edited with the `yaml` Document API: comments, key order and quoting survive a write. */
abstract class EditableYaml {
  protected constructor(
    readonly path: string,
    private readonly original: string,
    protected readonly document: Document,
  ) {}

  /** The file as it would be written: unchanged bytes when nothing was set. */
  render(): string {
    // lineWidth 0: never fold a long line, so the only lines that change are the values that changed.
    return this.document.toString({ lineWidth: 0 });
  }

  isModified(): boolean {
    return this.render() !== this.original;
  }

  save(): void {
    if (this.isModified()) writeFileSync(this.path, this.render());
  }
}

/**
 * gitops/images/kustomization.yaml: the one place that names the opsforge images. release.yml writes each
 * build's tag and digest here (tools/bump); every env overlay includes it, so an environment runs the
 * images of the commit it is pinned to.
 */
export class ImagesComponent extends EditableYaml {
  static load(root: string): ImagesComponent {
    const path = join(root, IMAGES_COMPONENT);
    const { text, document } = loadDocument(path, 'images');
    return new ImagesComponent(path, text, document);
  }

  releaseOf(service: Service): ImageRelease | undefined {
    const entry = this.imageEntry(service);
    if (!entry) return undefined;
    const release: ImageRelease = {};
    const tag = entry.get('newTag');
    const digest = entry.get('digest');
    if (tag !== undefined && tag !== null) release.tag = String(tag);
    if (digest !== undefined && digest !== null) release.digest = String(digest);
    return release;
  }

  /** Sets tag and digest and reports whether anything changed; setting the current pair is a no-op. */
  setRelease(service: Service, tag: string, digest: string): boolean {
    if (!IMAGE_TAG_PATTERN.test(tag)) throw new UsageError(`malformed image tag "${tag}"`);
    if (!IMAGE_DIGEST_PATTERN.test(digest)) throw new UsageError(`malformed image digest "${digest}"`);
    const entry = this.imageEntry(service);
    if (entry) {
      const tagChanged = setString(entry, 'newTag', tag);
      const digestChanged = setString(entry, 'digest', digest);
      return tagChanged || digestChanged;
    }
    const created = new YAMLMap();
    created.set('name', imageName(service));
    created.set('newTag', stringScalar(tag));
    created.set('digest', stringScalar(digest));
    this.imagesSequence(true)!.add(created);
    return true;
  }

  private imagesSequence(create: boolean): YAMLSeq | undefined {
    const images = this.document.get('images');
    if (isSeq(images)) return images;
    if (images !== undefined && images !== null) {
      throw new Error(`"images" in ${this.path} is not a list`);
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
      throw new Error(`${this.path} lists ${imageName(service)} ${matches.length} times under "images"`);
    }
    return matches[0];
  }
}

/** The revision an environment renders, as its revision.yaml text says (undefined when it says none). */
export function targetRevisionIn(text: string): string | undefined {
  const value: unknown = parseDocument(text, READ_AS_WRITTEN).toJS()?.targetRevision;
  return typeof value === 'string' ? value : undefined;
}

/**
 * gitops/envs/<env>/revision.yaml: the commit of main Argo CD renders the environment from (the env
 * ApplicationSet's git files generator reads it on main). dev says `main`; staging and prod name a commit,
 * changed only by a promotion pull request.
 */
export class EnvironmentRevision extends EditableYaml {
  private constructor(
    readonly env: Environment,
    path: string,
    original: string,
    document: Document,
  ) {
    super(path, original, document);
  }

  static load(root: string, env: Environment): EnvironmentRevision {
    const path = join(root, revisionPath(env));
    const { text, document } = loadDocument(path, env);
    return new EnvironmentRevision(env, path, text, document);
  }

  get targetRevision(): string | undefined {
    const value = this.document.get('targetRevision');
    return value === undefined || value === null ? undefined : String(value);
  }

  /** Pins the environment to a commit; pinning the current one is a no-op. */
  pin(commit: string): boolean {
    if (!COMMIT_PATTERN.test(commit)) throw new UsageError(`"${commit}" is not a full commit sha`);
    return setString(this.document.contents as YAMLMap, 'targetRevision', commit);
  }
}
