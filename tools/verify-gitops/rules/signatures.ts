// Signature enforcement at admission: Kyverno, pinned to the chart version the ledger records, runs an
// ImageValidatingPolicy that lets a pod in an env namespace run an opsforge image only by digest and only when
// release.yml on main of this very repository signed it (keyless, the GitHub OIDC issuer), both compared
// exactly; the docs' `cosign verify` names the same identity.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_REPOSITORY } from '../../lib/gitops';
import { z } from 'zod';
import { ofKind } from '../../lib/kubernetes';
import { where } from '../model';
import { chartFact } from '../upstream';
import { sourcesOf, trackedArgocdTrees } from './argocd';
import { defineLedgerRule } from './ledger';

export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com';
export const RELEASE_WORKFLOW = '.github/workflows/release.yml';

/** The certificate identity of a keyless signature made by release.yml on main of `repoURL`. */
export function releaseIdentity(repoURL: string): string {
  return `${repoURL.replace(/\.git$/, '')}/${RELEASE_WORKFLOW}@refs/heads/main`;
}

/** The documents that tell people how to verify an image themselves. */
export const VERIFY_DOCUMENTS = ['docs/promotion.md', 'SECURITY.md'];

/**
 * Every `cosign verify` command in a Markdown text, with the identity flags it passes. A regexp flag, or an
 * identity other than the release's, lets a signature from another repository or workflow pass.
 */
export function cosignVerifyProblems(markdown: string, identity: string): string[] {
  const commands = [...markdown.matchAll(/cosign verify\b(?:[^\n]*\\\n)*[^\n]*/g)].map((match) => match[0]);
  if (commands.length === 0) return ['has no cosign verify command'];
  const problems: string[] = [];
  for (const command of commands) {
    const flag = (name: string) => new RegExp(`--${name}[ =]'?([^'\\s]+)'?`).exec(command)?.[1];
    if (/--certificate-(identity|oidc-issuer)-regexp/.test(command))
      problems.push(
        'a cosign verify command matches the identity by regexp: use --certificate-identity with the exact identity',
      );
    if (flag('certificate-identity') !== identity)
      problems.push(
        `a cosign verify command checks identity "${flag('certificate-identity') ?? '(none)'}", not ${identity}`,
      );
    if (flag('certificate-oidc-issuer') !== GITHUB_OIDC_ISSUER)
      problems.push(
        `a cosign verify command checks issuer "${flag('certificate-oidc-issuer') ?? '(none)'}", not ${GITHUB_OIDC_ISSUER}`,
      );
  }
  return problems;
}

/**
 * The fields of a Kyverno ImageValidatingPolicy's spec these checks read. No model package ships the kind:
 * schema.ts validates it against the upstream CRD's schema (crd-schemas/), and this reads it by that shape.
 */
const IMAGE_VALIDATING_POLICY_SPEC = z.object({
  validationActions: z.array(z.string()).optional(),
  failurePolicy: z.string().optional(),
  matchConstraints: z
    .object({
      namespaceSelector: z.object({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
      resourceRules: z
        .array(
          z.object({ resources: z.array(z.string()).optional(), operations: z.array(z.string()).optional() }),
        )
        .optional(),
    })
    .optional(),
  matchImageReferences: z.array(z.object({ glob: z.string().optional() })).optional(),
  validationConfigurations: z
    .object({ required: z.boolean().optional(), verifyDigest: z.boolean().optional() })
    .optional(),
  attestors: z
    .array(
      z.object({
        name: z.string(),
        cosign: z
          .object({
            keyless: z
              .object({ identities: z.array(z.record(z.string(), z.string())).optional() })
              .optional(),
          })
          .optional(),
      }),
    )
    .optional(),
  validations: z.array(z.object({ expression: z.string().optional() })).optional(),
});
type ImageValidatingPolicySpec = z.infer<typeof IMAGE_VALIDATING_POLICY_SPEC>;

function policyProblems(
  spec: ImageValidatingPolicySpec,
  identity: string,
  envLabels: Record<string, string>,
): string[] {
  const problems: string[] = [];
  if (!(spec.validationActions ?? []).includes('Deny'))
    problems.push(
      `validationActions ${JSON.stringify(spec.validationActions)} do not include Deny: an unsigned image would only be reported`,
    );
  if (spec.failurePolicy !== 'Fail')
    problems.push(
      `failurePolicy is ${spec.failurePolicy ?? '(unset)'}: when Kyverno cannot verify, an unverified image would be admitted`,
    );
  const selector = spec.matchConstraints?.namespaceSelector?.matchLabels ?? {};
  const selects =
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([key, value]) => envLabels[key] === value);
  if (!selects)
    problems.push(
      `namespaceSelector ${JSON.stringify(spec.matchConstraints?.namespaceSelector)} does not select the env namespaces (labels ${JSON.stringify(envLabels)} from the env ApplicationSet)`,
    );
  const podRule = (spec.matchConstraints?.resourceRules ?? []).some(
    (rule) => (rule.resources ?? []).includes('pods') && (rule.operations ?? []).includes('CREATE'),
  );
  if (!podRule) problems.push('does not match pod creation');
  const config = spec.validationConfigurations ?? {};
  if (config.required === false)
    problems.push('validationConfigurations.required is false: an unverified image passes');
  if (config.verifyDigest === false)
    problems.push('validationConfigurations.verifyDigest is false: an image by tag alone passes');
  for (const attestor of spec.attestors ?? []) {
    const keyless = attestor.cosign?.keyless;
    if (!keyless) {
      problems.push(`attestor ${attestor.name} is not a keyless cosign attestor`);
      continue;
    }
    const identities = keyless.identities ?? [];
    if (identities.length !== 1)
      problems.push(
        `attestor ${attestor.name} accepts ${identities.length} identities, not exactly release.yml's`,
      );
    for (const id of identities) {
      for (const loose of ['subjectRegExp', 'issuerRegExp', 'subjectExpression'] as const)
        if (id[loose] !== undefined)
          problems.push(
            `attestor ${attestor.name} matches ${loose} "${id[loose]}": compare subject and issuer exactly`,
          );
      if (id.subject !== identity)
        problems.push(`attestor ${attestor.name} accepts subject "${id.subject}", not ${identity}`);
      if (id.issuer !== GITHUB_OIDC_ISSUER)
        problems.push(`attestor ${attestor.name} accepts issuer "${id.issuer}", not ${GITHUB_OIDC_ISSUER}`);
    }
  }
  const verified = (spec.validations ?? []).some((validation) =>
    (spec.attestors ?? []).some((attestor) =>
      new RegExp(`verifyImageSignatures\\([^)]*attestors\\.${attestor.name}\\b`).test(
        String(validation.expression),
      ),
    ),
  );
  if (!verified) problems.push('no validation calls verifyImageSignatures with the release attestor');
  return problems;
}

const imageSignaturesEnforced = defineLedgerRule({
  name: 'image-signatures-enforced',
  summary: `Kyverno at the ledger's chart version denies a pod in an env namespace whose ${IMAGE_REPOSITORY} image is not by digest or not signed by release.yml on main of this repository (exact subject and GitHub OIDC issuer); the docs' cosign verify checks the same identity`,
  check({ ledger, trees, root, flag }) {
    for (const { tree, tracked } of trackedArgocdTrees(trees)) {
      if (!tracked.repoURL) continue;
      const identity = releaseIdentity(tracked.repoURL);
      const kyverno = ofKind(tree, 'Application').find((app) =>
        sourcesOf(app.spec).some((source) => source.chart === 'kyverno'),
      );
      if (!kyverno)
        flag(tree.source, 'no Application installs Kyverno: nothing enforces image signatures at admission');
      for (const source of kyverno ? sourcesOf(kyverno.spec) : []) {
        if (source.chart !== 'kyverno') continue;
        const fact = chartFact(ledger, source.repoURL, 'kyverno');
        if (kyverno && (!fact || fact.version !== source.targetRevision))
          flag(
            where(tree, kyverno),
            `installs kyverno ${source.targetRevision} from ${source.repoURL}, not the version the upstream ledger records (${fact?.version ?? 'none'})`,
          );
      }
      const envSet = ofKind(tree, 'ApplicationSet').find((set) => set.metadata?.name === 'opsforge-envs');
      const envLabels = envSet?.spec.template.spec.syncPolicy?.managedNamespaceMetadata?.labels ?? {};
      const policies = trees
        .filter((candidate) => candidate.role === 'application-source')
        .flatMap((candidate) =>
          ofKind(candidate, 'ImageValidatingPolicy').map((policy) => ({
            at: where(candidate, policy),
            spec: IMAGE_VALIDATING_POLICY_SPEC.safeParse(policy.spec ?? {}),
          })),
        );
      for (const { at, spec } of policies) {
        if (!spec.success)
          flag(at, `spec is not an ImageValidatingPolicy's: ${spec.error.issues[0]?.message}`);
      }
      const enforcing = policies.flatMap(({ at, spec }) =>
        spec.success && (spec.data.matchImageReferences ?? []).some((r) => r.glob === `${IMAGE_REPOSITORY}/*`)
          ? [{ at, spec: spec.data }]
          : [],
      );
      if (enforcing.length === 0)
        flag(
          tree.source,
          `no ImageValidatingPolicy deployed by an Application matches ${IMAGE_REPOSITORY}/*: unsigned images are admitted`,
        );
      for (const { at, spec } of enforcing) {
        for (const problem of policyProblems(spec, identity, envLabels)) flag(at, problem);
      }
      if (!existsSync(join(root, RELEASE_WORKFLOW)))
        flag(tree.source, `the policy names ${RELEASE_WORKFLOW}, which does not exist in this repository`);
      for (const document of VERIFY_DOCUMENTS) {
        const path = join(root, document);
        if (!existsSync(path)) continue;
        for (const problem of cosignVerifyProblems(readFileSync(path, 'utf8'), identity))
          flag(document, problem);
      }
    }
  },
});

export const signaturesRules = [imageSignaturesEnforced];
