// Second half of `npm run build`: bundle each service's compiled output (services/<name>/dist/compiled, written
// by `tsc -b` with the decorator metadata NestJS needs) into one file, services/<name>/dist/main.js. Node then
// reads one file instead of resolving some 1,500 modules, which takes about a third off the time to /ready.
// Skips a service whose bundle is newer than everything it is built from.
import { statSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'acorn';
import { build } from 'esbuild';

const servicesDir = import.meta.dirname;
const repositoryRoot = join(servicesDir, '..');

// Optional peers that NestJS, terminus and BullMQ load only when installed: left to a runtime require().
const optionalPeers = [
  '@nestjs/microservices',
  '@nestjs/websockets',
  '@nestjs/platform-express',
  '@nestjs/swagger',
  '@nestjs/axios',
  '@nestjs/mongoose',
  '@nestjs/sequelize',
  '@nestjs/typeorm',
  '@fastify/static',
  '@fastify/view',
  '@fastify/multipart',
  '@mikro-orm/*',
  '@grpc/*',
  '@prisma/client',
  '@valkey/*',
  'class-transformer',
  'class-validator',
  'mongoose',
  'sequelize',
  'typeorm',
  'pino-pretty',
  'bullmq-otel',
  'pg',
  'redis',
  'bun',
  // A native addon: it must be loaded from node_modules, where its prebuilt binaries are.
  'msgpackr-extract',
];

function newestModification(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce(
    (newest, entry) => Math.max(newest, newestModification(join(path, entry))),
    0,
  );
}

// The api image also carries the canary acceptance-and-load command (rollouts/acceptance-and-load.yaml).
const entryPoints = [
  ['api', 'main'],
  ['api', 'acceptance'],
  ['worker', 'main'],
];

/**
 * esbuild wraps each bundled module as `__commonJS({ "<its path>"(exports, module) {…} })` (or `__esm({…})`): an
 * object literal with one property, named after the module. V8 gives every one-property object literal a map
 * that is a transition from one shared root map, and stops adding transitions to a map after 1,536. A service
 * bundle has more modules than that (the worker's: 1,015 + 538), so by the time the bundle has loaded, the root is
 * full and every one-property literal created later gets a map of its own outside the transition tree, from which
 * V8 builds new maps on every use: BullMQ's `Object.assign({ attempts: 0 }, opts)`, once per job, took 3 to 20 µs
 * instead of 0.06 µs (measured in the worker against the same code in a smaller bundle). `__proto__: null` makes each
 * wrapper a dictionary-mode object, which takes no transition; the helpers still find the one own property.
 */
function withDictionaryModuleWrappers(code, outfile) {
  let wrappers = 0;
  const rewritten = code.replace(/= (__commonJS|__esm)\(\{\n/g, (_, helper) => {
    wrappers += 1;
    return `= ${helper}({ __proto__: null,\n`;
  });
  if (wrappers === 0)
    throw new Error(
      `${outfile}: no esbuild module wrapper found to rewrite; has esbuild's output format changed?`,
    );
  return rewritten;
}

/** Every node of an acorn syntax tree, parents before children. */
function* syntaxNodes(root) {
  const pending = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    yield node;
    for (const value of Object.values(node))
      if (Array.isArray(value)) {
        for (const child of value) if (typeof child?.type === 'string') pending.push(child);
      } else if (typeof value?.type === 'string') pending.push(value);
  }
}

/** `__name(<target>, "<name>")`, esbuild's keepNames helper call, with its target. */
function nameCall(node) {
  if (node?.type !== 'CallExpression' || node.callee.type !== 'Identifier' || node.callee.name !== '__name')
    return undefined;
  const [target, name] = node.arguments;
  return name?.type === 'Literal' && typeof name.value === 'string'
    ? { target, name: name.value }
    : undefined;
}

/**
 * With `keepNames`, esbuild gives every function its source name at run time with `__name(f, "f")` (an
 * Object.defineProperty of `name`), inside functions too, where it runs on every call: Fastify's hook runner
 * declares three closures per request phase, its body reader and reply path more (`const onResFinished =
 * __name((err) => {…}, "onResFinished")` once per request). Two forms change nothing a program can see, because
 * JavaScript already gives the function that name, with the same attributes:
 *
 * - `function f(…) {…}` followed by the statement `__name(f, "f");` (a declaration is named by its identifier);
 * - `const f = __name(<anonymous function or arrow>, "f")` (also `let`, `var`): a variable initialised with an
 *   anonymous function names it after the variable.
 *
 * Redefining the property on each fresh closure costs time and gives the closure a new map: dropping the first
 * form took a fifth off the API's CPU per `GET /api/status` and an eighth per `POST /api/job`, the second about
 * 2 % of the API's samples under `POST /api/job` (docs/benchmarks.md). Every other `__name` stays: a name esbuild
 * changed (`f2` named "f"), classes (a class may define a static `name`), named function expressions, property
 * assignments.
 */
function withoutNoOpFunctionNames(code, outfile) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'script' });
  const cuts = [];
  for (const node of syntaxNodes(program)) {
    if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier') {
      const call = nameCall(node.init);
      const anonymous =
        call?.target.type === 'ArrowFunctionExpression' ||
        (call?.target.type === 'FunctionExpression' && call.target.id === null);
      // Keep the function's text and drop the call around it: `__name(` before it, `, "f")` after it.
      if (anonymous && call.name === node.id.name)
        cuts.push([node.init.start, call.target.start], [call.target.end, node.init.end]);
    }
    const statements = node.type === 'Program' || node.type === 'BlockStatement' ? node.body : [];
    statements.forEach((statement, index) => {
      const call = statement.type === 'ExpressionStatement' ? nameCall(statement.expression) : undefined;
      const declaration = statements[index - 1];
      if (
        call?.target.type === 'Identifier' &&
        call.target.name === call.name &&
        declaration?.type === 'FunctionDeclaration' &&
        declaration.id.name === call.name
      )
        cuts.push([statement.start, statement.end]);
    });
  }
  if (cuts.length === 0)
    throw new Error(
      `${outfile}: no no-op __name call found to drop; has esbuild's keepNames output changed?`,
    );
  cuts.sort((first, second) => first[0] - second[0]);
  let kept = '';
  let from = 0;
  for (const [start, end] of cuts) {
    kept += code.slice(from, start);
    from = end;
  }
  return kept + code.slice(from);
}

for (const [name, entryName] of entryPoints) {
  const dist = join(servicesDir, name, 'dist');
  const entry = join(dist, 'compiled', `${entryName}.js`);
  const outfile = join(dist, `${entryName}.js`);
  const inputsChanged = Math.max(
    newestModification(join(dist, 'compiled')),
    newestModification(join(servicesDir, 'common', 'dist')),
    newestModification(join(repositoryRoot, 'package-lock.json')),
    newestModification(import.meta.filename),
  );
  if (existsSync(outfile) && statSync(outfile).mtimeMs > inputsChanged) continue;
  const { outputFiles } = await build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // Nest reports providers and log contexts by class name (the no-op part is dropped: withoutNoOpFunctionNames).
    keepNames: true,
    // The input is tsc's output: no TypeScript left to transform, and the root tsconfig's `paths` (source
    // mapping for the type checker) must not redirect @opsforge/common to its uncompiled sources.
    tsconfigRaw: '{}',
    // ESM packages bundled into CommonJS still ask for their own location (createRequire(import.meta.url)).
    define: {
      'import.meta.url': '__bundleFileUrl',
      'import.meta.dirname': '__dirname',
      'import.meta.filename': '__filename',
    },
    banner: { js: 'const __bundleFileUrl = require("node:url").pathToFileURL(__filename).href;' },
    external: optionalPeers,
    logLevel: 'warning',
  });
  writeFileSync(
    outfile,
    withoutNoOpFunctionNames(withDictionaryModuleWrappers(outputFiles[0].text, outfile), outfile),
  );
}
