// One runner for everything `npm test` proves: services against real Redis, manifests through real
// kustomize, rules through real promtool/amtool, the canary rehearsal against a real Prometheus.
// Long fault-injection suites (`*.chaos.spec.ts`) run separately via jest.chaos.config.js.
/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  roots: [
    '<rootDir>/services',
    '<rootDir>/tools',
    '<rootDir>/observability',
    '<rootDir>/rollouts',
    '<rootDir>/gitops',
    '<rootDir>/argocd',
  ],
  testEnvironment: 'node',
  transform: {
    // Type errors are caught once by `npm run typecheck`; tests only transpile, which keeps them fast.
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: '<rootDir>/tsconfig.json', isolatedModules: true, diagnostics: false },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // The harness workspace is TypeScript read in place (no build step); map it so a checkout whose node_modules
  // predates the workspace still finds it.
  moduleNameMapper: { '^@opsforge/harness$': '<rootDir>/tools/harness/index.ts' },
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '\\.chaos\\.spec\\.ts$'],
  testTimeout: 60_000,
  // Stops services a test file started and left running (a set-up that failed halfway).
  setupFilesAfterEnv: ['<rootDir>/tools/harness/jest-cleanup.ts'],
};
