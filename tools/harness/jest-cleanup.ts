// Loaded by jest (setupFilesAfterEnv) into every test file: after the file's own afterAll hooks, whatever
// service it started and did not stop is stopped, so a failed set-up cannot leave a process that keeps jest
// from exiting.
import { stopAllBlackboxExporters } from './blackbox-exporter';
import { stopAllServices } from './services';

afterAll(() => Promise.all([stopAllServices(), stopAllBlackboxExporters()]), 30_000);
