// The e2e fork copy on this repository's real files: dev renders the pushed digests from the e2e's registry,
// bump keeps that name, and the admission policy still validates against Kyverno's CRD schema while trusting
// only the run's key for images of that registry.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { bump } from '../bump/main';
import { IMAGES_COMPONENT } from '../lib/gitops';
import { isKubernetesObject, isMapping, type KubernetesObject } from '../lib/kubernetes';
import { kustomizeObjects } from '../lib/kustomize';
import { crdSchemaProblem } from '../verify-gitops/crd-schemas';
import { imagesNamedBy, policyTrustingKey, SIGNATURE_POLICY, trustE2eRegistry } from './fork';

const REPO_ROOT = join(__dirname, '..', '..');
const REGISTRY = '172.18.0.3:5000/opsforge';
const PUBLIC_KEY =
  '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEe2e\n-----END PUBLIC KEY-----\n';
const TAG = 'a'.repeat(40);
const DIGEST = `sha256:${'b'.repeat(64)}`;
const policyText = () => readFileSync(join(REPO_ROOT, SIGNATURE_POLICY), 'utf8');

/** A parsed ImageValidatingPolicy: no kubernetes-models package types Kyverno's kinds, so its fields stay unknown. */
function parsePolicy(text: string): {
  object: KubernetesObject;
  spec: Record<string, unknown>;
  firstValidation: Record<string, unknown>;
} {
  const object: unknown = parse(text);
  if (!isKubernetesObject(object)) throw new Error('the policy is not a Kubernetes object');
  const spec = object.spec;
  if (!isMapping(spec)) throw new Error('the policy has no spec');
  const validations: unknown = spec.validations;
  const first: unknown = Array.isArray(validations) ? validations[0] : undefined;
  return { object, spec, firstValidation: isMapping(first) ? first : {} };
}

describe('the e2e fork copy', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'e2e-fork-'));
    for (const path of ['gitops', 'rollouts', 'argocd/platform/image-signatures'])
      cpSync(join(REPO_ROOT, path), join(root, path), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('makes dev run the digest bump wrote, pulled from the e2e registry', () => {
    trustE2eRegistry(root, REGISTRY, PUBLIC_KEY);
    bump(root, 'api', TAG, DIGEST);
    const images = kustomizeObjects(join(root, 'gitops', 'envs', 'dev')).flatMap(
      (object) => JSON.stringify(object).match(/"image":"[^"]*opsforge\/[^"]*"/g) ?? [],
    );
    expect(images).toContain(`"image":"${REGISTRY}/api:${TAG}@${DIGEST}"`);
    expect(images.filter((image) => image.includes('/worker:'))).toEqual([
      expect.stringMatching(new RegExp(`^"image":"${REGISTRY}/worker:[0-9a-f]{40}@sha256:[0-9a-f]{64}"$`)),
    ]);
    // The canary-acceptance Job (an AnalysisTemplate's job metric) runs the release's api image too: a bare
    // name there would be pulled from ghcr.io by tag, which admission refuses.
    const acceptance = images.filter((image) => image.includes('/api:'));
    expect(acceptance.length).toBeGreaterThan(1);
    expect(new Set(acceptance)).toEqual(new Set([`"image":"${REGISTRY}/api:${TAG}@${DIGEST}"`]));
    expect(images.filter((image) => !image.includes(`"image":"${REGISTRY}/`))).toEqual([]);
    expect(readFileSync(join(root, IMAGES_COMPONENT), 'utf8')).toContain(
      '# The opsforge images every environment',
    );
  });

  it('keeps the policy valid against the upstream CRD, denying, failing closed, trusting only the key', () => {
    const policy = parsePolicy(policyTrustingKey(policyText(), REGISTRY, PUBLIC_KEY));
    const original = parsePolicy(policyText());
    expect(crdSchemaProblem(policy.object)).toBeUndefined();
    expect(policy.spec.attestors).toEqual([
      { name: 'release', cosign: { key: { data: PUBLIC_KEY }, ctlog: { insecureIgnoreTlog: true } } },
    ]);
    expect(policy.spec.matchImageReferences).toEqual([{ glob: `${REGISTRY}/*` }]);
    expect(policy.spec.credentials).toEqual({ allowInsecureRegistry: true });
    expect(policy.firstValidation.expression).toContain(`startsWith('${REGISTRY}/')`);
    expect(policy.firstValidation.expression).not.toContain('ghcr.io');
    for (const kept of ['validationActions', 'failurePolicy', 'matchConstraints', 'validationConfigurations'])
      expect(policy.spec[kept]).toEqual(original.spec[kept]);
    expect(policy.firstValidation.message).toEqual(original.firstValidation.message);
  });

  it('refuses a policy whose attestor or image selection it does not recognise, rather than guess', () => {
    expect(() =>
      policyTrustingKey(policyText().replace('- name: release', '- name: releases'), REGISTRY, PUBLIC_KEY),
    ).toThrow(/no attestor "release"/);
    expect(() =>
      policyTrustingKey(policyText().replace(".startsWith('ghcr.io/opsforge/')", ''), REGISTRY, PUBLIC_KEY),
    ).toThrow(/no validation that selects ghcr.io\/opsforge\/ images/);
    expect(() => imagesNamedBy('images:\n  - name: docker.io/library/redis\n', REGISTRY)).toThrow(
      /names no ghcr.io\/opsforge\/ image/,
    );
  });
});
