// The signature policy against the ImageValidatingPolicy schema of the upstream CRD at the pinned Kyverno
// release (kyverno/kyverno kyverno-chart-3.9.0), validated strictly as crd-schemas.ts does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isKubernetesObject } from '../lib/kubernetes';
import { crdSchemaProblem } from './crd-schemas';
import { firstAttestorIdentity, mappingAt, present } from './rules/broken-trees';

const POLICY_PATH = join(
  __dirname,
  '..',
  '..',
  'argocd',
  'platform',
  'image-signatures',
  'opsforge-images-signed.yaml',
);
function policy() {
  const parsed: unknown = parse(readFileSync(POLICY_PATH, 'utf8'));
  return present(isKubernetesObject(parsed) ? parsed : undefined, `Kubernetes object in ${POLICY_PATH}`);
}

describe('ImageValidatingPolicy opsforge-images-signed-by-release against the upstream CRD schema', () => {
  it('matches it', () => {
    expect(crdSchemaProblem(policy())).toBeUndefined();
  });

  it('refuses a misspelt identity key, which the API server would prune, leaving the identity empty', () => {
    const broken = policy();
    const identity = firstAttestorIdentity(broken);
    identity.subjectRegexp = identity.subject;
    expect(crdSchemaProblem(broken)).toMatch(
      /identities\/0 must NOT have additional properties \(subjectRegexp\)/,
    );
  });

  it('refuses a policy without validations and a validation action of the wrong type', () => {
    const broken = policy();
    const spec = mappingAt(broken, 'spec');
    delete spec.validations;
    spec.validationActions = 'Deny';
    const problem = crdSchemaProblem(broken);
    expect(problem).toContain("must have required property 'validations'");
    expect(problem).toContain('/spec/validationActions must be array');
  });
});
