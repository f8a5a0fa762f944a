// Second half of `npm run build`: bundle each service's compiled output (services/<name>/dist/compiled, written
// by `tsc -b` with the decorator metadata NestJS needs) into one file, services/<name>/dist/main.js. Node then
// reads one file instead of resolving some 1,500 modules, which takes about a third off the time to /ready.
// Skips a service whose bundle is newer than everything it is built from.
import { statSync, readdirSync, existsSync } from 'node:fs';
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
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // Nest reports providers and log contexts by class name.
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
}
