import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildContext, contextSources, dockerfileProblems } from './support/dockerfile-policy';
import { REPO_ROOT } from './support/gitops-repo';
import { brokenCopy } from './support/broken-copy';

const SERVICES = [
  { service: 'api', port: 3000 },
  { service: 'worker', port: 3001 },
];
const read = (service: string) => readFileSync(join(REPO_ROOT, 'services', service, 'Dockerfile'), 'utf8');

describe('service Dockerfiles (parsed with dockerfile-ast: no Docker engine runs here)', () => {
  it.each(SERVICES)('services/$service/Dockerfile meets every image rule', ({ service, port }) => {
    expect(dockerfileProblems(read(service), service, port)).toEqual([]);
  });

  it('both images build from the same Node.js 24 release', () => {
    const bases = SERVICES.map(({ service }) =>
      [...read(service).matchAll(/^FROM (\S+)/gm)].map((match) => match[1]),
    );
    expect(new Set(bases.flat()).size).toBe(1);
  });

  // Each rule, shown to catch the mistake it exists for (on the api Dockerfile with one thing broken).
  const api = read('api');
  const apiWith = (find: string | RegExp, replace: string) =>
    brokenCopy(api, find, replace, 'services/api/Dockerfile');
  const WHOLE_FILE = /^[\s\S]*$/;
  const END_OF_FILE = /$/;
  it.each([
    [
      'a floating base tag',
      /node:24\.\d+\.\d+-bookworm-slim AS runtime/,
      'node:24-slim AS runtime',
      'is not an exact Node.js 24 release tag',
    ],
    [
      'an old Node.js',
      /node:24\.\d+\.\d+-bookworm-slim AS build/,
      'node:20.19.0-bookworm-slim AS build',
      'is not an exact Node.js 24 release tag',
    ],
    [
      'a single stage',
      WHOLE_FILE,
      'FROM node:24.21.0-bookworm-slim\nCOPY . .\nRUN npm ci\nCMD ["node", "services/api/dist/main.js"]\n',
      'not multi-stage',
    ],
    [
      'dev dependencies installed',
      'RUN npm ci --omit=dev',
      'RUN npm ci',
      'no stage installs production dependencies only',
    ],
    [
      'node_modules from the build stage',
      '--from=production-deps /app/node_modules',
      '--from=build /app/node_modules',
      'takes node_modules from "build"',
    ],
    ['npm kept in the final image', '/usr/local/lib/node_modules/npm ', '', 'keeps npm/npx/corepack'],
    [
      'sources copied into the final image',
      'COPY --from=build /app/services/api/dist services/api/dist',
      'COPY --from=build /app/services/api/src services/api/src',
      'copies sources',
    ],
    ['the context copied into the final image', END_OF_FILE, 'COPY . .\n', 'copies from the build context'],
    ['running as root', 'USER 1000:1000', 'USER root', 'runs as root (USER root)'],
    ['no USER at all', 'USER 1000:1000\n', '', 'runs as root (no USER)'],
    ['a user name instead of a uid', 'USER 1000:1000', 'USER node', 'is not numeric'],
    [
      'no APP_VERSION in the environment',
      'APP_VERSION=${APP_VERSION}',
      'GIT_SHA=${APP_VERSION}',
      'APP_VERSION build arg is not passed',
    ],
    [
      'a shell-form CMD',
      'CMD ["node", "services/api/dist/main.js"]',
      'CMD node services/api/dist/main.js',
      'CMD is not the exec form',
    ],
    ['the wrong port', 'EXPOSE 3000', 'EXPOSE 8080', 'does not EXPOSE 3000'],
  ])('rejects %s', (_mistake, find, replace, problem) => {
    expect(dockerfileProblems(apiWith(find, replace), 'api', 3000).join('\n')).toContain(problem);
  });

  it('.dockerignore admits only what the build needs (allowlist), never local node_modules or dist', () => {
    const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(patterns[0]).toBe('*');
    expect(patterns).toEqual(
      expect.arrayContaining([
        '!package.json',
        '!package-lock.json',
        '!services/',
        'services/**/node_modules',
        'services/**/dist',
      ]),
    );
    expect(
      patterns.filter(
        (pattern) => pattern.startsWith('!') && /\.env|\.git\b|gitops|node_modules/.test(pattern),
      ),
    ).toEqual([]);
  });
});

describe('the build context after .dockerignore (what docker build receives from a checkout)', () => {
  const tracked = execFileSync('git', ['-C', REPO_ROOT, 'ls-files'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const context = buildContext(tracked, readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));

  it.each(SERVICES)('holds every file services/$service/Dockerfile copies from it', ({ service }) => {
    for (const source of contextSources(read(service))) {
      if (source === '.') continue;
      expect([source, context.includes(source)]).toEqual([source, true]);
    }
  });

  it('holds what `npm run build` compiles: the TypeScript configs and every service source file', () => {
    expect(context).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.base.json']),
    );
    for (const service of ['common', 'api', 'worker']) {
      expect(context).toContain(`services/${service}/tsconfig.build.json`);
      const sources = tracked.filter(
        (file) => file.startsWith(`services/${service}/src/`) && !file.endsWith('.spec.ts'),
      );
      expect(sources.length).toBeGreaterThan(0);
      expect(sources.filter((file) => !context.includes(file))).toEqual([]);
    }
  });

  it('leaves out what the image must not see: tests, the GitOps tree, docs, workflows, the Dockerfiles', () => {
    const leaked = context.filter((file) =>
      /(^|\/)(\.git|\.github|gitops|argocd|docs|observability|rollouts|tools|test)\/|\.spec\.ts$|Dockerfile$|^\.env/.test(
        file,
      ),
    );
    expect(leaked).toEqual([]);
  });

  it('applies .dockerignore as Docker does (last match wins, a parent directory counts)', () => {
    const files = [
      'package.json',
      'secret.env',
      'services/api/src/main.ts',
      'services/api/dist/main.js',
      'services/api/test/x.ts',
    ];
    expect(buildContext(files, '*\n!package.json\n!services/\nservices/**/dist\nservices/**/test\n')).toEqual(
      ['package.json', 'services/api/src/main.ts'],
    );
  });
});
