// What a service image must be, checked on the Dockerfile's syntax tree (dockerfile-ast) because no
// Docker engine runs here: multi-stage, an exact Node.js 24 base, production dependencies only, no
// package manager or sources in the final stage, a non-root user, and the build's git sha in APP_VERSION.
import {
  DockerfileParser,
  ModifiableInstruction,
  type Instruction,
  type JSONInstruction,
} from 'dockerfile-ast';
import { minimatch } from 'minimatch';

/** An exact Node.js 24 release tag, optionally followed by the digest Dependabot adds. */
export const NODE_BASE_IMAGE = /^node:24\.\d+\.\d+-[a-z0-9][a-z0-9.-]*(@sha256:[0-9a-f]{64})?$/;

interface Stage {
  name: string | null;
  image: string | null;
  instructions: Instruction[];
}

function stagesOf(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const words = instruction.getArguments().map((argument) => argument.getValue());
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({
        name: asIndex >= 0 ? words[asIndex + 1] : null,
        image: words.find((word) => !word.startsWith('--')) ?? null,
        instructions: [],
      });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return stages;
}

const argumentsOf = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';
const withKeyword = (stage: Stage, keyword: string) =>
  stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
const copyFrom = (instruction: Instruction) =>
  instruction instanceof ModifiableInstruction
    ? (instruction
        .getFlags()
        .find((flag) => flag.getName() === 'from')
        ?.getValue() ?? undefined)
    : undefined;

export function dockerfileProblems(text: string, service: string, port: number): string[] {
  const problems: string[] = [];
  const stages = stagesOf(text);
  if (stages.length < 2) return [`not multi-stage: ${stages.length} FROM`];
  const stageNames = new Set(stages.map((stage) => stage.name).filter(Boolean));

  for (const stage of stages) {
    if (stage.image && !stageNames.has(stage.image) && !NODE_BASE_IMAGE.test(stage.image)) {
      problems.push(
        `base image "${stage.image}" is not an exact Node.js 24 release tag (node:24.x.y-variant)`,
      );
    }
  }
  const bases = new Set(
    stages.map((stage) => stage.image).filter((image) => image && !stageNames.has(image)),
  );
  if (bases.size > 1)
    problems.push(
      `stages use different base images (${[...bases].join(', ')}): modules built in one may not run in another`,
    );

  const productionStages = new Set(
    stages
      .filter((stage) =>
        withKeyword(stage, 'RUN').some((run) => /\bnpm ci\b[^&|;]*--omit=dev/.test(argumentsOf(run))),
      )
      .map((stage) => stage.name),
  );
  if (productionStages.size === 0)
    problems.push('no stage installs production dependencies only (npm ci --omit=dev)');

  const final = stages[stages.length - 1];
  for (const run of withKeyword(final, 'RUN')) {
    if (/\b(npm|npx|yarn|pnpm)\s+(ci|install|add|i)\b/.test(argumentsOf(run)))
      problems.push(`final stage installs packages: RUN ${argumentsOf(run)}`);
  }
  const removesPackageManagers = withKeyword(final, 'RUN').some((run) =>
    ['/usr/local/lib/node_modules/npm', '/usr/local/bin/npx', '/usr/local/lib/node_modules/corepack'].every(
      (path) => argumentsOf(run).includes(path),
    ),
  );
  if (!removesPackageManagers) problems.push('final stage keeps npm/npx/corepack (dev tooling)');

  const copies = withKeyword(final, 'COPY').concat(withKeyword(final, 'ADD'));
  const nodeModulesCopies = copies.filter((copy) => /node_modules/.test(argumentsOf(copy)));
  if (nodeModulesCopies.length !== 1)
    problems.push(`final stage copies node_modules ${nodeModulesCopies.length} times (expected once)`);
  for (const copy of nodeModulesCopies) {
    if (!productionStages.has(copyFrom(copy) ?? '')) {
      problems.push(
        `final stage takes node_modules from "${copyFrom(copy) ?? 'the build context'}", not from the --omit=dev stage`,
      );
    }
  }
  for (const copy of copies) {
    if (!copyFrom(copy))
      problems.push(`final stage copies from the build context: ${copy.getKeyword()} ${argumentsOf(copy)}`);
    else if (/\/src\b|tsconfig|\.ts\b/.test(argumentsOf(copy)))
      problems.push(`final stage copies sources: COPY ${argumentsOf(copy)}`);
  }

  const users = withKeyword(final, 'USER');
  const user = users.length > 0 ? argumentsOf(users[users.length - 1]) : undefined;
  if (user === undefined) problems.push('final stage runs as root (no USER)');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`final stage runs as root (USER ${user})`);
  else if (!/^[1-9]\d*(:\d+)?$/.test(user))
    problems.push(`USER ${user} is not numeric: Kubernetes runAsNonRoot cannot verify a user name`);

  if (!withKeyword(final, 'ARG').some((arg) => /^APP_VERSION\b/.test(argumentsOf(arg))))
    problems.push('final stage has no ARG APP_VERSION');
  const env = withKeyword(final, 'ENV').map(argumentsOf).join(' ');
  if (!/\bAPP_VERSION=\$\{?APP_VERSION\}?/.test(env))
    problems.push('APP_VERSION build arg is not passed to the environment');
  if (!/\bNODE_ENV=production\b/.test(env)) problems.push('NODE_ENV is not production');

  if (
    !withKeyword(final, 'EXPOSE').some((expose) => argumentsOf(expose).split(/\s+/).includes(String(port)))
  ) {
    problems.push(`final stage does not EXPOSE ${port}`);
  }
  const cmds = withKeyword(final, 'CMD') as JSONInstruction[];
  const command =
    cmds.length === 1 ? cmds[0].getJSONStrings().map((value) => JSON.parse(value.getValue()) as string) : [];
  const entrypoint = `services/${service}/dist/main.js`;
  if (JSON.stringify(command) !== JSON.stringify(['node', entrypoint])) {
    problems.push(
      `CMD is not the exec form ["node", "${entrypoint}"] (node must be PID 1 to receive SIGTERM)`,
    );
  }
  if (!copies.some((copy) => argumentsOf(copy).includes(`services/${service}/dist`)))
    problems.push(`final stage does not copy services/${service}/dist`);
  return problems;
}

/**
 * The files `docker build` sends for a build context, as the engine filters them with .dockerignore: a path
 * is left out when the last pattern matching it, or one of its parent directories, is not a "!" exception.
 */
export function buildContext(files: string[], dockerignore: string): string[] {
  const patterns = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => ({
      exception: line.startsWith('!'),
      glob: line.replace(/^!/, '').replace(/^\/+|\/+$/g, ''),
    }));
  return files.filter((file) => {
    const segments = file.split('/');
    const selfAndParents = segments.map((_, index) => segments.slice(0, index + 1).join('/'));
    let excluded = false;
    for (const { exception, glob } of patterns) {
      if (selfAndParents.some((path) => minimatch(path, glob, { dot: true }))) excluded = !exception;
    }
    return !excluded;
  });
}

/** The sources of COPY/ADD instructions that read the build context (no --from). */
export function contextSources(text: string): string[] {
  return DockerfileParser.parse(text)
    .getInstructions()
    .filter((instruction) => ['COPY', 'ADD'].includes(instruction.getKeyword()) && !copyFrom(instruction))
    .flatMap((instruction) => {
      const words = argumentsOf(instruction).split(/\s+/);
      return words.slice(0, -1);
    });
}
