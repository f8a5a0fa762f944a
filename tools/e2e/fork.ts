// The e2e's own fork copy (e2e.yml, "Your fork"): what an adopter never does, but a run on kind must. Its
// images are built on the runner and pushed to a registry on kind's network, not released to ghcr.io, and
// signed with a key pair of the run, not keyless by release.yml. So the fork copy names the images by that
// registry (gitops/images newName; bump still writes tag and digest) and keeps the admission policy, matching
// that registry and trusting that key. Kyverno reads the registry itself (it has no mirror setting), which is
// why the images are renamed rather than ghcr.io mirrored in containerd: both must reach the same registry.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { IMAGES_COMPONENT } from '../lib/gitops';

export const SIGNATURE_POLICY = join('argocd', 'platform', 'image-signatures', 'opsforge-images-signed.yaml');
const RELEASED_PREFIX = 'ghcr.io/opsforge/';
/** The attestor the policy's validation expression names (attestors.release): replaced, never renamed. */
const ATTESTOR = 'release';

/** gitops/images with every ghcr.io/opsforge image renamed to `<registry>/<service>`, comments kept. */
export function imagesNamedBy(componentText: string, registry: string): string {
  const document = parseDocument(componentText);
  const images = document.get('images');
  if (!isSeq(images)) throw new Error(`${IMAGES_COMPONENT} has no images list`);
  let renamed = 0;
  for (const entry of images.items) {
    const name = isMap(entry) ? entry.get('name') : undefined;
    if (typeof name !== 'string' || !name.startsWith(RELEASED_PREFIX)) continue;
    (entry as YAMLMap).set('newName', `${registry}/${name.slice(RELEASED_PREFIX.length)}`);
    renamed++;
  }
  if (renamed === 0) throw new Error(`${IMAGES_COMPONENT} names no ${RELEASED_PREFIX} image`);
  return document.toString();
}

/**
 * The ImageValidatingPolicy matching `<registry>/*` instead of ghcr.io/opsforge, reading that registry over
 * plain HTTP, and trusting only `publicKey` (a cosign key of the run; signed without a transparency log).
 * Everything else stays: Deny, failurePolicy Fail, the namespaces, verifyDigest and required, the message.
 */
export function policyTrustingKey(policyText: string, registry: string, publicKey: string): string {
  const document = parseDocument(policyText);
  if (document.get('kind') !== 'ImageValidatingPolicy')
    throw new Error(`${SIGNATURE_POLICY} is not an ImageValidatingPolicy`);
  const attestors = document.getIn(['spec', 'attestors']);
  if (!isSeq(attestors) || !attestors.items.some((item) => isMap(item) && item.get('name') === ATTESTOR))
    throw new Error(`${SIGNATURE_POLICY} has no attestor "${ATTESTOR}"`);
  const validations = document.getIn(['spec', 'validations']);
  const expressions = isSeq(validations) ? validations.items.filter(isMap) : [];
  if (!expressions.some((validation) => String(validation.get('expression')).includes(RELEASED_PREFIX)))
    throw new Error(`${SIGNATURE_POLICY} has no validation that selects ${RELEASED_PREFIX} images`);
  for (const validation of expressions) {
    const expression = validation.get('expression');
    if (typeof expression === 'string')
      validation.set('expression', expression.split(RELEASED_PREFIX).join(`${registry}/`));
  }
  document.setIn(['spec', 'matchImageReferences'], [{ glob: `${registry}/*` }]);
  document.setIn(['spec', 'credentials', 'allowInsecureRegistry'], true);
  document.setIn(
    ['spec', 'attestors'],
    [{ name: ATTESTOR, cosign: { key: { data: publicKey }, ctlog: { insecureIgnoreTlog: true } } }],
  );
  return document.toString();
}

/** Both edits, in place, on the repository at `root`. */
export function trustE2eRegistry(root: string, registry: string, publicKey: string): void {
  const images = join(root, IMAGES_COMPONENT);
  writeFileSync(images, imagesNamedBy(readFileSync(images, 'utf8'), registry));
  const policy = join(root, SIGNATURE_POLICY);
  writeFileSync(policy, policyTrustingKey(readFileSync(policy, 'utf8'), registry, publicKey));
}
