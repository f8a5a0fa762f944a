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

/** Whether `name` may name a function expression like `target` in this strict-mode bundle (not `eval`, `yield`, …). */
function mayName(target, name) {
  const header = `${target.async ? 'async ' : ''}function${target.generator ? '*' : ''} ${name}() {}`;
  try {
    parse(`"use strict"; (${header});`, { ecmaVersion: 'latest', sourceType: 'script' });
    return true;
  } catch {
    return false;
  }
}

/** Whether an identifier spelled `name` appears anywhere in `node` (a reference, a binding or a property key). */
function mentions(node, name) {
  for (const inner of syntaxNodes(node)) if (inner.type === 'Identifier' && inner.name === name) return true;
  return false;
}

/**
 * With `keepNames`, esbuild gives every function its source name at run time with `__name(f, "f")` (an
 * Object.defineProperty of `name`), inside functions too, where it runs on every call. A function whose `name` was
 * redefined also leaves V8's fast path for `bind`: binding it took 310 ns instead of 10 to 25 (measured), and
 * ioredis' RESP decoder binds its (renamed) number readers for every reply. Three forms are dropped, each giving
 * the function the same `name`, with the same attributes, without the call:
 *
 * - `function f(…) {…}` followed by the statement `__name(f, "f");`: a declaration is named by its identifier;
 * - `const f = __name(<anonymous function or arrow>, "f")` (also `let`, `var`): a variable initialised with an
 *   anonymous function names it after the variable (Fastify creates one such closure per request);
 * - `__name(function g(…) {…}, "f")`: the expression is named `f` in the output instead (esbuild renamed it `g`,
 *   often `f2`, so that it does not shadow an outer `f`), when neither `f` nor `g` appears inside it, so no
 *   reference can change what it binds to.
 *
 * Together they took a fifth off the API's CPU per `GET /api/status` and more than a tenth per `POST /api/job`
 * (docs/benchmarks.md). Every other `__name` stays: a name esbuild changed on a declaration (`f2` named "f"),
 * classes (a class may define a static `name`), anonymous functions assigned to properties.
 */
function withoutNoOpFunctionNames(code, outfile) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'script' });
  // [start, end, replacement] of the text to change: the call around a function, or a statement.
  const edits = [];
  const dropCallAround = (call, target) =>
    edits.push([call.start, target.start, ''], [target.end, call.end, '']);
  for (const node of syntaxNodes(program)) {
    if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier') {
      const call = nameCall(node.init);
      const anonymous =
        call?.target.type === 'ArrowFunctionExpression' ||
        (call?.target.type === 'FunctionExpression' && call.target.id === null);
      if (anonymous && call.name === node.id.name) dropCallAround(node.init, call.target);
    }
    const call = nameCall(node);
    if (call?.target.type === 'FunctionExpression' && call.target.id !== null) {
      const { id } = call.target;
      if (id.name === call.name) dropCallAround(node, call.target);
      else if (
        mayName(call.target, call.name) &&
        ![...call.target.params, call.target.body].some(
          (part) => mentions(part, id.name) || mentions(part, call.name),
        )
      ) {
        dropCallAround(node, call.target);
        edits.push([id.start, id.end, call.name]);
      }
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
        edits.push([statement.start, statement.end, '']);
    });
  }
  if (edits.length === 0)
    throw new Error(
      `${outfile}: no no-op __name call found to drop; has esbuild's keepNames output changed?`,
    );
  edits.sort((first, second) => first[0] - second[0]);
  let kept = '';
  let from = 0;
  for (const [start, end, replacement] of edits) {
    kept += code.slice(from, start) + replacement;
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
