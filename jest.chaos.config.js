// Fault-injection and load suites: minutes, not seconds, so they stay out of the inner loop.
const config = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...config,
  testMatch: ['**/*.chaos.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 300_000,
  maxWorkers: 1,
};
