// Each signatures rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import {
  brokenTrees,
  expectViolation,
  firstAttestorIdentity,
  mappingAt,
  run,
  testRuleFamily,
  withSourceRevision,
} from './broken-trees';
import { cosignVerifyProblems, releaseIdentity, signaturesRules } from './signatures';

const POLICY_SOURCE = 'argocd/platform/image-signatures';
const POLICY = 'opsforge-images-signed-by-release';
const IDENTITY = releaseIdentity('https://github.com/opsforge/opsforge.git');

testRuleFamily(signaturesRules, {
  'image-signatures-enforced': () => {
    const regexp = brokenTrees(POLICY_SOURCE, 'ImageValidatingPolicy', POLICY, (o) => {
      const identity = firstAttestorIdentity(o);
      delete identity.subject;
      identity.subjectRegExp = '^https://github.com/.+/.github/workflows/release.yml@refs/heads/main$';
    });
    const regexpViolations = run('image-signatures-enforced', regexp);
    expectViolation(
      regexpViolations,
      `${POLICY_SOURCE}: ImageValidatingPolicy/${POLICY}`,
      /matches subjectRegExp/,
    );
    expectViolation(
      regexpViolations,
      POLICY,
      /accepts subject "undefined", not https:\/\/github.com\/opsforge\/opsforge\//,
    );

    const otherBranch = brokenTrees(POLICY_SOURCE, 'ImageValidatingPolicy', POLICY, (o) => {
      firstAttestorIdentity(o).subject = IDENTITY.replace('refs/heads/main', 'refs/heads/dev');
    });
    expectViolation(run('image-signatures-enforced', otherBranch), POLICY, /refs\/heads\/dev", not /);

    const auditOnly = brokenTrees(POLICY_SOURCE, 'ImageValidatingPolicy', POLICY, (o) => {
      const spec = mappingAt(o, 'spec');
      spec.validationActions = ['Audit'];
      spec.failurePolicy = 'Ignore';
      mappingAt(spec, 'validationConfigurations').verifyDigest = false;
      mappingAt(spec, 'matchConstraints').namespaceSelector = { matchLabels: { team: 'web' } };
    });
    const auditViolations = run('image-signatures-enforced', auditOnly);
    expectViolation(auditViolations, POLICY, /do not include Deny/);
    expectViolation(auditViolations, POLICY, /failurePolicy is Ignore/);
    expectViolation(auditViolations, POLICY, /verifyDigest is false/);
    expectViolation(auditViolations, POLICY, /does not select the env namespaces/);

    const unpinned = withSourceRevision('kyverno', '3.8.2');
    expectViolation(
      run('image-signatures-enforced', unpinned),
      'argocd: Application/kyverno',
      /not the version the upstream ledger records \(3.9.0\)/,
    );
  },
});

describe("the docs' cosign verify", () => {
  const exact = `cosign verify ghcr.io/opsforge/api@sha256:… \\\n  --certificate-identity ${IDENTITY} \\\n  --certificate-oidc-issuer https://token.actions.githubusercontent.com\n`;

  it('passes with the exact identity and issuer', () => {
    expect(cosignVerifyProblems(exact, IDENTITY)).toEqual([]);
  });

  it('is caught when it matches by regexp, names another identity or has no command', () => {
    const regexp = exact.replace(
      `--certificate-identity ${IDENTITY}`,
      "--certificate-identity-regexp '^https://github.com/.+/.github/workflows/release.yml@refs/heads/main$'",
    );
    expect(cosignVerifyProblems(regexp, IDENTITY)).toEqual([
      expect.stringContaining('matches the identity by regexp'),
      expect.stringContaining('checks identity "(none)"'),
    ]);
    expect(cosignVerifyProblems(exact.replace('opsforge/opsforge', 'someone/fork'), IDENTITY)).toEqual([
      expect.stringContaining('someone/fork'),
    ]);
    expect(cosignVerifyProblems('no command here', IDENTITY)).toEqual(['has no cosign verify command']);
  });
});
