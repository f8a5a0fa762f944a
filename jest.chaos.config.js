// Fault-injection and load suites: minutes, not seconds, so they stay out of the inner loop.
const { base } = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['**/*.chaos.spec.ts'],
  testTimeout: 300_000,
  maxWorkers: 1,
};
