// The rules of the workflows that install a cluster (e2e.yml, platform.yml): what they install is pinned exactly
// and recorded in the upstream ledger, the e2e applies exactly what docs/gitops.md's Bootstrap tells an adopter
// to apply, and the bumps they run match bump's CLI.
import { BUMP_FLAGS } from '../../bump/main';
import { envOf, runsOf, type Workflow } from './workflow-policy';

const PIN_SHAPES: [suffix: string, shape: RegExp, what: string][] = [
  ['_VERSION', /^v?\d+\.\d+\.\d+$/, 'an exact x.y.z version'],
  ['_IMAGE', /^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/, 'an image by tag and digest'],
  ['_COMMIT', /^[0-9a-f]{40}$/, 'a full commit sha'],
  ['_SHA256', /^[0-9a-f]{64}$/, 'a sha256 checksum'],
];

/**
 * What a workflow installs from outside is pinned exactly, once, in `env:` (where pinsMatchLedger holds it to
 * the upstream ledger): versions x.y.z, images by digest, git sources by commit, downloads by checksum; no
 * `latest` anywhere, no `go install` of a branch, no OCI chart without its version.
 */
export function toolPinsExact(workflow: Workflow): string[] {
  const problems: string[] = [];
  const env = new Map(envOf(workflow));
  for (const [name, value] of env) {
    for (const [suffix, shape, what] of PIN_SHAPES) {
      if (name.endsWith(suffix) && !shape.test(value))
        problems.push(`${workflow.name}: ${name} is "${value}", not ${what}`);
    }
  }
  if (/(@|:\s*|--version[ =]|\/)latest\b/.test(workflow.text))
    problems.push(`${workflow.name}: pins something to "latest"`);
  /** A reference is pinned when it is literally of the shape, or names an env variable of that shape. */
  const pinned = (reference: string, shape: RegExp) => {
    const variable = /^\$\{?(\w+)\}?$/.exec(reference) ?? /^\$\{\{\s*env\.(\w+)\s*\}\}$/.exec(reference);
    return variable ? shape.test(env.get(variable[1]) ?? '') : shape.test(reference);
  };
  for (const { job, name, run } of runsOf(workflow)) {
    const where = `${workflow.name}: job ${job}, step "${name}"`;
    if (/\b(curl|wget)\b[^\n]*https?:\/\//.test(run) && !/sha256sum -c/.test(run))
      problems.push(`${where} downloads without checking a pinned sha256 (sha256sum -c)`);
    for (const [, reference] of run.matchAll(/\bgo install\s+"?[\w./-]+@([^\s"]+)/g)) {
      if (!pinned(reference, PIN_SHAPES[0][1]))
        problems.push(`${where} go installs @${reference}, not a pinned version`);
    }
    for (const line of run
      .split('\n')
      .filter((text) => /\bhelm\s+(install|upgrade|template)\b[^\n]*oci:\/\//.test(text))) {
      const version = /--version[ =]"?([^\s"]+)/.exec(line);
      if (!version || !pinned(version[1], PIN_SHAPES[0][1]))
        problems.push(`${where} installs an OCI chart without a pinned --version`);
    }
    for (const [, reference] of run.matchAll(
      /raw\.githubusercontent\.com\/[\w.-]+\/[\w.-]+\/([^/\s"]+)\//g,
    )) {
      if (!pinned(reference, PIN_SHAPES[2][1]))
        problems.push(`${where} reads raw.githubusercontent.com at ${reference}, not a commit`);
    }
    for (const [, reference] of run.matchAll(/github\.com\/[^\s"]*\?ref=([^\s"&]+)/g)) {
      if (!pinned(reference, PIN_SHAPES[2][1]))
        problems.push(`${where} reads a GitHub kustomization at ${reference}, not a commit`);
    }
  }
  return problems;
}

/** The `kubectl apply` lines of docs/gitops.md's Bootstrap section that name a path of this repository. */
export function bootstrapApplies(gitopsDoc: string): string[] {
  const start = gitopsDoc.indexOf('\n## Bootstrap');
  const section = gitopsDoc.slice(start, gitopsDoc.indexOf('\n## ', start + 1));
  return [
    ...new Set(
      section
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => /^kubectl apply\b/.test(line) && OWN_TREE.test(line)),
    ),
  ];
}

const OWN_TREE = /(^|[\s=])(\.\/)?(gitops|argocd|observability|rollouts)\//;

/**
 * The e2e takes the adopter's path: it applies of this repository exactly what docs/gitops.md's Bootstrap tells
 * an adopter to apply (Argo CD from argocd/install, then root.yaml), each once, and nothing else; Argo CD
 * installs everything else from git. Applying an overlay or a platform chart by hand would bypass exactly what
 * the e2e exists to test (waves, health checks, selfHeal beside the canary plugin).
 */
export function e2eFollowsBootstrap(
  workflow: Workflow,
  documented: string[],
  platformCharts: string[],
): string[] {
  const problems: string[] = [];
  if (documented.length === 0)
    return ['docs/gitops.md documents no kubectl apply of this repository in Bootstrap'];
  const lines = runsOf(workflow).flatMap(({ job, name, run }) =>
    run
      .split('\n')
      .map((line) => ({ where: `${workflow.name}: job ${job}, step "${name}"`, line: line.trim() })),
  );
  for (const command of documented) {
    const count = lines.filter(({ line }) => line === command).length;
    if (count !== 1)
      problems.push(
        `${workflow.name}: runs "${command}" (docs/gitops.md, Bootstrap) ${count} times, not once`,
      );
  }
  for (const { where, line } of lines) {
    if (documented.includes(line)) continue;
    const applies =
      /\bkubectl\s+(apply|create|replace)\b/.test(line) && /\s(-f|-k|--filename|--kustomize)\b/.test(line);
    const rendersOwn =
      /\bkubectl\s+kustomize\b/.test(line) && OWN_TREE.test(line.replace(/.*kubectl\s+kustomize/, ' '));
    if ((applies && OWN_TREE.test(line)) || (rendersOwn && /\|\s*kubectl\s+apply\b/.test(line)))
      problems.push(`${where} applies this repository's tree by hand: ${line}`);
    const helm = /\bhelm\s+(install|upgrade)\b(.*)/.exec(line);
    if (helm && platformCharts.some((chart) => new RegExp(`(^|[\\s/])${chart}(\\s|$)`).test(helm[2])))
      problems.push(`${where} installs a platform chart Argo CD owns: ${line}`);
  }
  return problems;
}

export interface LedgerPins {
  tools: Record<string, { version: string }>;
  images: Record<string, { image: string; tag: string }>;
  behaviour(id: string): { data?: Record<string, unknown> };
}

/** Each pinned version, digest, commit and checksum in `env:` is the one the upstream ledger records (section e2e). */
export function pinsMatchLedger(workflow: Workflow, ledger: LedgerPins): string[] {
  const node = ledger.images['kind-node'];
  const registry = ledger.images.registry;
  const commits = ledger.behaviour('release-commits').data ?? {};
  const expected: Record<string, string | undefined> = {
    KIND_VERSION: ledger.tools.kind?.version,
    GO_VERSION: ledger.tools.go?.version,
    KIND_NODE_IMAGE: node && `${node.image}:${node.tag}`,
    REGISTRY_IMAGE: registry && `${registry.image}:${registry.tag}`,
    KUBERNETES_VERSION: node?.tag.split('@')[0].replace(/^v/, ''),
    HELM_VERSION: ledger.tools.helm?.version,
    HELM_SHA256: String(ledger.behaviour('helm-release-checksum').data?.sha256),
    KUBECONFORM_VERSION: ledger.tools.kubeconform?.version,
    GATEWAY_API_VERSION: ledger.tools['gateway-api']?.version,
    GATEWAY_API_COMMIT: commits['gateway-api'] as string | undefined,
    ENVOY_GATEWAY_VERSION: ledger.tools['envoy-gateway']?.version,
  };
  return envOf(workflow).flatMap(([name, value]) => {
    if (!PIN_SHAPES.some(([suffix]) => name.endsWith(suffix))) return [];
    if (!(name in expected))
      return [`${workflow.name}: ${name} is pinned here but not recorded in the upstream ledger`];
    return value === expected[name]
      ? []
      : [`${workflow.name}: ${name} is ${value}, the upstream ledger records ${expected[name]}`];
  });
}

/** The flags `npm run bump` accepts, as its command line declares them (BUMP_FLAGS in tools/bump/main.ts). */
export const bumpFlags = (): string[] => Object.keys(BUMP_FLAGS).map((flag) => `--${flag}`);

/**
 * Every `npm run bump` a workflow runs uses only flags bump has and names the image by digest (--service,
 * --tag and --digest): the e2e was once left calling a `--env` bump no longer had, which only a cluster run
 * would have shown.
 */
export function bumpCallsMatchCli(workflow: Workflow, flags: string[]): string[] {
  const required = ['--service', '--tag', '--digest'];
  return runsOf(workflow).flatMap(({ job, name, run }) =>
    [...run.matchAll(/npm run(?: --silent)? bump --([^\n&|;]*)/g)].flatMap(([call, args]) => {
      const used = [...args.matchAll(/(?:^|\s)(--[\w-]+)/g)].map((match) => match[1]);
      const where = `${workflow.name}: job ${job}, step "${name}": ${call.trim()}`;
      return [
        ...used.filter((flag) => !flags.includes(flag)).map((flag) => `${where}: bump has no ${flag}`),
        ...required.filter((flag) => !used.includes(flag)).map((flag) => `${where}: without ${flag}`),
      ];
    }),
  );
}
