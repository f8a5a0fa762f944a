// e2e: the waiting and asserting of .github/workflows/e2e.yml and platform.yml, run against a real cluster
// through kubectl. The decisions live in cluster-state.ts and crd-schemas.ts (unit-tested on recorded
// outputs); this file only polls, prints what it sees, and exits 1 with the problems when an expectation fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseOptions, runCli, UsageError, valueFlags } from '../lib/cli';
import { kustomizeObjects, parseObjects } from '../lib/kustomize';
import {
  alertmanagerRunsConfig,
  analysisRunMeasured,
  applicationsNotReady,
  describe,
  notificationReached,
  plannedCanaryWeights,
  prometheusHasValue,
  ReleaseWatch,
  syncedTo,
  type Application,
  type AnalysisRun,
  type HttpRoute,
  type Rollout,
} from './cluster-state';
import { schemasFromCrds, splitForValidation, type KubernetesObject } from './crd-schemas';
import { trustE2eRegistry } from './fork';
import { startHostServer } from './host-server';
import { loadPlatformApplications, renderOf } from './platform-apps';

const USAGE = `Usage: npm run e2e -- <command> [options]

  serve --projects <dir> --host <address> --port <n>
      serve the bare repositories under <dir> over git smart HTTP and record POSTs to /receivers/<name>
  applications --expect <name,...> [--timeout <s>]
      wait until every Argo CD Application (those named included) is Synced and Healthy
  release --namespace <ns> --rollout <name> --route <name> --canary-service <name> --application <name>
          --revision <sha> --expect completed|aborted [--pause-hook <shell command>] [--timeout <s>]
      follow a release: the route's canary weight at each step, the env Application's sync status; with
      --pause-hook, run it at the first canary pause (it commits and prints the new commit last) and require
      the env Application to sync that commit while the canary is paused
  analysis --namespace <ns> --rollout <name> --expect Successful|Failed
      the release's AnalysisRun decided on measured values (its queries found the canary's series)
  prometheus --query <promql> [--timeout <s>]
      the in-cluster Prometheus answers the query with a value, not an empty result
  alert --alertname <name> --labels <k=v,...> --receiver-path </receivers/...> --sink <url> [--timeout <s>]
      the running Alertmanager config is ours, and a test alert reaches the receiver it routes to
  render-platform --out <dir> --kube-version <x.y.z> --api-versions <group/version,...>
      helm template every platform Application at its pinned chart version with its values (as Argo CD
      renders it), and kustomize this repository's own trees (argocd, argocd/install, gitops/envs/*)
  crd-schemas --out <dir> <file.yaml>...
      kubeconform schemas from every CRD in the files
  split --schemas <dir> --built-in <file> --custom <file> <file.yaml>...
      sort rendered objects for validation; fails on a custom resource no pinned CRD defines
  fork --registry <host:port/opsforge> --public-key-file <cosign.pub>
      in this checkout: name the opsforge images by the e2e's registry (gitops/images) and make the admission
      policy match that registry and trust only that cosign key (tools/e2e/fork.ts)`;

const REPO_ROOT = join(__dirname, '..', '..');
const PROMETHEUS = '/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy';
const ALERTMANAGER = '/api/v1/namespaces/monitoring/services/kube-prometheus-stack-alertmanager:9093/proxy';
const POLL_MS = 5_000;

function kubectl(args: string[], input?: string): string {
  const result = spawnSync('kubectl', args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}
const getJson = <T>(args: string[]): T => JSON.parse(kubectl([...args, '-o', 'json'])) as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it reports no problem; prints each new state; fails with the last problems at the deadline. */
async function waitFor(what: string, timeoutSeconds: number, check: () => string[]): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    let problems: string[];
    try {
      problems = check();
    } catch (error) {
      problems = [(error as Error).message];
    }
    if (problems.length === 0) {
      console.log(`${what}: ok`);
      return;
    }
    const state = problems.join('\n  ');
    if (state !== last) console.log(`${what}: waiting\n  ${state}`);
    last = state;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutSeconds} s:\n  ${state}`);
    await sleep(POLL_MS);
  }
}

function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${flag} is required`);
  return value;
}
const seconds = (value: string | boolean | undefined, fallback: number) =>
  typeof value === 'string' ? Number.parseInt(value, 10) : fallback;

async function applications(argv: string[]) {
  const options = parseOptions(argv, valueFlags('expect', 'timeout'));
  const expected = required(options.expect, '--expect').split(',');
  await waitFor('every Argo CD Application Synced and Healthy', seconds(options.timeout, 1800), () => {
    const list = getJson<{ items: Application[] }>(['-n', 'argocd', 'get', 'applications.argoproj.io']).items;
    const present = new Set(list.map((application) => application.metadata.name));
    return [
      ...expected.filter((name) => !present.has(name)).map((name) => `${name}: not created yet`),
      ...applicationsNotReady(list),
    ];
  });
}

async function release(argv: string[]) {
  const options = parseOptions(
    argv,
    valueFlags(
      'namespace',
      'rollout',
      'route',
      'canary-service',
      'application',
      'revision',
      'expect',
      'pause-hook',
      'stable-before',
      'timeout',
    ),
  );
  const namespace = required(options.namespace, '--namespace');
  const name = required(options.rollout, '--rollout');
  const route = required(options.route, '--route');
  const canaryService = required(options['canary-service'], '--canary-service');
  const applicationName = required(options.application, '--application');
  const expect = required(options.expect, '--expect');
  const stableBefore = required(options['stable-before'], '--stable-before');
  if (expect !== 'completed' && expect !== 'aborted')
    throw new UsageError('--expect is completed or aborted');
  const revision = required(options.revision, '--revision');
  const pauseHook = typeof options['pause-hook'] === 'string' ? options['pause-hook'] : undefined;

  const application = () =>
    getJson<Application>(['-n', 'argocd', 'get', 'applications.argoproj.io', applicationName]);
  // The release starts when Argo CD has synced its commit (the workflow asked for a refresh).
  await waitFor(`${applicationName} synced ${revision.slice(0, 12)}`, 600, () =>
    syncedTo(application(), revision) ? [] : [describeApplication(application())],
  );

  const watch = new ReleaseWatch(stableBefore, revision, pauseHook !== undefined);
  let planned: number[];
  const deadline = Date.now() + seconds(options.timeout, 1500) * 1000;
  for (;;) {
    const rollout = getJson<Rollout>(['-n', namespace, 'get', 'rollouts.argoproj.io', name]);
    planned = plannedCanaryWeights(rollout);
    const next = watch.observe(
      rollout,
      getJson<HttpRoute>(['-n', namespace, 'get', 'httproutes.gateway.networking.k8s.io', route]),
      canaryService,
      application(),
    );
    const [previous, current] = watch.samples.slice(-2);
    if (!previous || describe(previous) !== describe(current)) console.log(describe(current));
    if (next === 'done' || Date.now() > deadline) break;
    if (next === 'run hook' && pauseHook) {
      console.log(`canary paused at weight ${current.routeWeight}: running the pause hook`);
      const output = spawnSync('sh', ['-c', pauseHook], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (output.status !== 0) throw new Error(`the pause hook failed (${output.status})`);
      const committed = output.stdout.trim().split('\n').pop() ?? '';
      if (!/^[0-9a-f]{40}$/.test(committed))
        throw new Error(`the pause hook printed no commit: ${output.stdout}`);
      watch.hookCommitted(committed);
    }
    await sleep(POLL_MS);
  }
  const problems = watch.problems(expect, planned);
  if (problems.length > 0)
    throw new Error(`the ${expect === 'completed' ? 'good' : 'bad'} release:\n  ${problems.join('\n  ')}`);
  const weights = watch.samples
    .map((s) => s.routeWeight)
    .filter((weight, index, all) => weight !== all[index - 1]);
  console.log(`release ${expect}: canary weights on the route ${JSON.stringify(weights)}`);
}

function describeApplication(application: Application): string {
  const status = application.status;
  return `${application.metadata.name}: ${status?.sync?.status}@${status?.sync?.revision?.slice(0, 12)}, last sync ${status?.operationState?.phase}@${status?.operationState?.syncResult?.revision?.slice(0, 12)} ${status?.operationState?.message ?? ''}`;
}

async function analysis(argv: string[]) {
  const options = parseOptions(argv, valueFlags('namespace', 'rollout', 'expect'));
  const namespace = required(options.namespace, '--namespace');
  const rollout = getJson<Rollout>([
    '-n',
    namespace,
    'get',
    'rollouts.argoproj.io',
    required(options.rollout, '--rollout'),
  ]);
  const hash = rollout.status?.currentPodHash;
  const expect = required(options.expect, '--expect');
  if (expect !== 'Successful' && expect !== 'Failed')
    throw new UsageError('--expect is Successful or Failed');
  const runs = getJson<{ items: AnalysisRun[] }>([
    '-n',
    namespace,
    'get',
    'analysisruns.argoproj.io',
    '-l',
    `rollouts-pod-template-hash=${hash}`,
  ]).items;
  if (runs.length === 0) throw new Error(`no AnalysisRun for the canary ${hash}`);
  const problems = runs.flatMap((run) => analysisRunMeasured(run, expect));
  if (problems.length > 0) throw new Error(problems.join('\n'));
  for (const run of runs)
    for (const metric of run.status?.metricResults ?? [])
      console.log(
        `${run.metadata.name} ${metric.name}: ${(metric.measurements ?? []).map((m) => m.value).join(' ')}`,
      );
}

async function prometheus(argv: string[]) {
  const options = parseOptions(argv, valueFlags('query', 'timeout'));
  const query = required(options.query, '--query');
  await waitFor(`Prometheus answers ${query}`, seconds(options.timeout, 180), () =>
    prometheusHasValue(
      JSON.parse(kubectl(['get', '--raw', `${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(query)}`])),
    ),
  );
}

/** The receiver names of our Alertmanager config (the file the observability Application renders into its Secret). */
function ourReceivers(): string[] {
  const config = parseAllDocuments(
    readFileSync(join(REPO_ROOT, 'observability', 'alertmanager', 'alertmanager.yaml'), 'utf8'),
  )[0].toJS() as {
    receivers: { name: string }[];
  };
  return config.receivers.map((receiver) => receiver.name);
}

async function alert(argv: string[]) {
  const options = parseOptions(argv, valueFlags('alertname', 'labels', 'receiver-path', 'sink', 'timeout'));
  const alertname = required(options.alertname, '--alertname');
  const receiverPath = required(options['receiver-path'], '--receiver-path');
  const sink = required(options.sink, '--sink');
  const labels = Object.fromEntries(
    required(options.labels, '--labels')
      .split(',')
      .map((pair) => pair.split('=') as [string, string]),
  );
  await waitFor('Alertmanager runs our config', 300, () =>
    alertmanagerRunsConfig(
      JSON.parse(kubectl(['get', '--raw', `${ALERTMANAGER}/api/v2/status`])),
      ourReceivers(),
    ),
  );
  const body = JSON.stringify([
    {
      labels: { alertname, ...labels },
      annotations: { summary: `e2e test alert ${alertname}`, runbook_url: 'docs/runbooks/README.md' },
    },
  ]);
  kubectl(['create', '--raw', `${ALERTMANAGER}/api/v2/alerts`, '-f', '-'], body);
  await waitFor(`${alertname} reaches ${receiverPath}`, seconds(options.timeout, 180), () => {
    const result = spawnSync('curl', ['-fsS', `${sink}/received`], { encoding: 'utf8' });
    if (result.status !== 0) return [`the sink does not answer: ${result.stderr}`];
    return notificationReached(JSON.parse(result.stdout), receiverPath, alertname);
  });
}

function readObjects(files: string[]): KubernetesObject[] {
  return files.flatMap((file) => parseObjects(readFileSync(file, 'utf8'), file));
}

function crdSchemas(argv: string[]) {
  const { values, positionals } = splitPositionals(argv);
  const options = parseOptions(values, valueFlags('out'));
  const out = required(options.out, '--out');
  const files = schemasFromCrds(readObjects(positionals));
  if (files.size === 0) throw new Error('no CustomResourceDefinition in the given files');
  for (const [path, schema] of files) {
    mkdirSync(dirname(join(out, path)), { recursive: true });
    writeFileSync(join(out, path), JSON.stringify(schema));
  }
  console.log(`${files.size} schemas in ${out}`);
}

function listSchemaFiles(dir: string): string[] {
  const result = spawnSync('find', [dir, '-name', '*.json', '-type', 'f'], { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((path) => path.slice(dir.replace(/\/$/, '').length + 1));
}

function split(argv: string[]) {
  const { values, positionals } = splitPositionals(argv);
  const options = parseOptions(values, valueFlags('schemas', 'built-in', 'custom'));
  const objects: KubernetesObject[] = readObjects(positionals);
  const result = splitForValidation(objects, listSchemaFiles(required(options.schemas, '--schemas')));
  const dump = (items: KubernetesObject[]) => items.map((item) => JSON.stringify(item)).join('\n---\n');
  writeFileSync(required(options['built-in'], '--built-in'), dump(result.builtIn));
  writeFileSync(required(options.custom, '--custom'), dump(result.custom));
  console.log(`${result.builtIn.length} built-in objects, ${result.custom.length} custom resources`);
  if (result.unknown.length > 0)
    throw new Error(`custom resources no pinned CRD defines:\n  ${result.unknown.join('\n  ')}`);
}

/** Flags and their values first, files after: `--out dir a.yaml b.yaml`. */
function splitPositionals(argv: string[]) {
  const values: string[] = [];
  const positionals: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    if (argv[index].startsWith('--')) values.push(argv[index], argv[++index]);
    else positionals.push(argv[index]);
  }
  return { values, positionals };
}

async function serve(argv: string[]) {
  const options = parseOptions(argv, valueFlags('projects', 'host', 'port'));
  const server = await startHostServer(
    required(options.projects, '--projects'),
    required(options.host, '--host'),
    Number.parseInt(required(options.port, '--port'), 10),
  );
  console.log(`serving on ${required(options.host, '--host')}:${server.port}`);
}

/** This repository as argocd/ names it (the root Application's source). */
function ownRepoURL(): string {
  const root = parseAllDocuments(
    readFileSync(join(REPO_ROOT, 'argocd', 'bootstrap', 'root.yaml'), 'utf8'),
  )[0].toJS() as {
    spec: { source: { repoURL: string } };
  };
  return root.spec.source.repoURL;
}

/** Runs a command in the repository; with `out`, writes its output there. */
function run(command: string, args: string[], out?: string) {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}:\n${result.stderr}`);
  if (out === undefined) return;
  writeFileSync(out, result.stdout);
  console.log(`${out}: ${result.stdout.split(/^---$/m).length} documents`);
}

function renderPlatform(argv: string[]) {
  const options = parseOptions(argv, valueFlags('out', 'kube-version', 'api-versions'));
  const out = required(options.out, '--out');
  mkdirSync(out, { recursive: true });
  const repoURL = ownRepoURL();
  for (const application of loadPlatformApplications(REPO_ROOT)) {
    const valuesFile = join(out, `${application.metadata.name}.values.json`);
    const render = renderOf(application, {
      repoURL,
      kubeVersion: required(options['kube-version'], '--kube-version'),
      apiVersions: required(options['api-versions'], '--api-versions').split(','),
      valuesFile,
      checkoutsDir: join(out, 'charts'),
    });
    if (render.kind === 'helm') {
      if (render.valuesObject !== undefined) writeFileSync(valuesFile, JSON.stringify(render.valuesObject));
      if (render.checkout) {
        // As Argo CD's repo-server: the repository at the commit, then the chart's dependencies.
        const { repoURL: remote, revision, dir } = render.checkout;
        for (const args of [
          ['init', '-q', dir],
          ['-C', dir, 'fetch', '-q', '--depth', '1', remote, revision],
          ['-C', dir, 'checkout', '-q', 'FETCH_HEAD'],
        ])
          run('git', args);
        run('helm', ['dependency', 'build', render.args[2]]);
      }
      run('helm', render.args, join(out, `platform-${render.app}.yaml`));
    } else {
      kustomize(render.path, join(out, `platform-${render.app}.yaml`));
    }
  }
  const envs = readdirSync(join(REPO_ROOT, 'gitops', 'envs')).sort();
  for (const env of envs) kustomize(join('gitops', 'envs', env), join(out, `env-${env}.yaml`));
  kustomize('argocd', join(out, 'argocd.yaml'));
  // Argo CD itself as Bootstrap installs it (the root does not sync it); its CRDs are Argo CD's schemas.
  kustomize(join('argocd', 'install'), join(out, 'argocd-install.yaml'));
}

/** A kustomization of this repository, rendered through tools/lib, written as one JSON document per object. */
function kustomize(path: string, out: string) {
  const objects = kustomizeObjects(join(REPO_ROOT, path), path);
  writeFileSync(out, objects.map((object) => JSON.stringify(object)).join('\n---\n'));
  console.log(`${out}: ${objects.length} objects`);
}

function fork(argv: string[]) {
  const options = parseOptions(argv, valueFlags('registry', 'public-key-file'));
  const publicKey = readFileSync(required(options['public-key-file'], '--public-key-file'), 'utf8');
  trustE2eRegistry(REPO_ROOT, required(options.registry, '--registry'), publicKey);
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void> | void> = {
  serve,
  applications,
  release,
  analysis,
  prometheus,
  alert,
  'render-platform': renderPlatform,
  'crd-schemas': crdSchemas,
  split,
  fork,
};

void runCli('e2e', USAGE, async (argv) => {
  const command = COMMANDS[argv[0] ?? ''];
  if (!command) throw new UsageError(`unknown command ${argv[0] ?? '(none)'}`);
  await command(argv.slice(1));
});
