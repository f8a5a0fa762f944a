// The signature policy against the ImageValidatingPolicy schema of the upstream CRD at the pinned Kyverno
// release (kyverno/kyverno kyverno-chart-3.9.0), validated strictly as crd-schemas.ts does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdSchemaProblem } from './crd-schemas';
import type { K8sObject } from './model';

const POLICY_PATH = join(
  __dirname,
  '..',
  '..',
  'argocd',
  'platform',
  'image-signatures',
  'opsforge-images-signed.yaml',
);
const policy = () => parse(readFileSync(POLICY_PATH, 'utf8')) as K8sObject;

describe('ImageValidatingPolicy opsforge-images-signed-by-release against the upstream CRD schema', () => {
  it('matches it', () => {
    expect(crdSchemaProblem(policy())).toBeUndefined();
  });

  it('refuses a misspelt identity key, which the API server would prune, leaving the identity empty', () => {
    const broken = policy();
    const identity = broken.spec.attestors[0].cosign.keyless.identities[0];
    identity.subjectRegexp = identity.subject;
    expect(crdSchemaProblem(broken)).toMatch(
      /identities\/0 must NOT have additional properties \(subjectRegexp\)/,
    );
  });

  it('refuses a policy without validations and a validation action of the wrong type', () => {
    const broken = policy();
    delete broken.spec.validations;
    broken.spec.validationActions = 'Deny';
    const problem = crdSchemaProblem(broken);
    expect(problem).toContain("must have required property 'validations'");
    expect(problem).toContain('/spec/validationActions must be array');
  });
});
