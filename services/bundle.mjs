// Second half of `npm run build`: bundle each service's compiled output (services/<name>/dist/compiled, written
// by `tsc -b` with the decorator metadata NestJS needs) into one file, services/<name>/dist/main.js. Node then
// reads one file instead of resolving some 1,500 modules, which takes about a third off the time to /ready.
// Skips a service whose bundle is newer than everything it is built from.
import { statSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * With `keepNames`, esbuild follows every function declaration with `__name(f, "f")` (an Object.defineProperty of
 * `name`), inside functions too, where it runs on every call: Fastify's hook runner declares three closures per
 * request phase, its body reader and reply path more. Where the name is the declared one the statement changes
 * nothing a program can see (a function declaration's `name` already is its identifier, with the same
 * attributes), but redefining the property on each fresh closure costs time and gives the closure a new map:
 * dropping these statements took a fifth off the API's CPU per `GET /api/status` and an eighth per `POST /api/job`
 * (docs/benchmarks.md). Dropped only where esbuild printed `__name(f, "f");` right after `function f(…) {…}` at
 * the same indentation; every other `__name` stays: a name esbuild changed (`f2` named "f"), classes (a class may
 * define a static `name`), function expressions.
 */
function withoutNoOpFunctionNames(code, outfile) {
  const lines = code.split('\n');
  const indentOf = (line) => /^[ \t]*/.exec(line)[0];
  const declaredJustAbove = (index, indent, name) => {
    let above = index - 1;
    // Up over the body (indented deeper, or blank) to the closing brace at the statement's own indentation…
    while (above >= 0 && (lines[above] === '' || indentOf(lines[above]).length > indent.length)) above -= 1;
    if (lines[above] !== `${indent}}`) return false;
    above -= 1;
    while (above >= 0 && (lines[above] === '' || indentOf(lines[above]).length > indent.length)) above -= 1;
    // …and the line that opened it, which must declare the function `name`.
    const declaration = new RegExp(`^${indent}(?:async )?function\\*? ?${name.replace(/\$/g, '\\$')}\\(`);
    return above >= 0 && declaration.test(lines[above]);
  };
  let dropped = 0;
  const kept = lines.filter((line, index) => {
    const call = /^([ \t]*)__name\(([\w$]+), "([\w$]+)"\);$/.exec(line);
    if (!call || call[2] !== call[3] || !declaredJustAbove(index, call[1], call[2])) return true;
    dropped += 1;
    return false;
  });
  if (dropped === 0)
    throw new Error(
      `${outfile}: no __name(f, "f") statement found to drop; has esbuild's keepNames output changed?`,
    );
  return kept.join('\n');
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
