// Loaded by jest (setupFilesAfterEnv) into every test file: after the file's own afterAll hooks, whatever
// service or server binary (Prometheus, Alertmanager, the blackbox exporter) it started and did not stop is
// stopped, so a failed set-up cannot leave a process that keeps jest from exiting.
import { stopAllLocalServers } from './local-server';
import { stopAllServices } from './services';

afterAll(() => Promise.all([stopAllServices(), stopAllLocalServers()]), 30_000);
