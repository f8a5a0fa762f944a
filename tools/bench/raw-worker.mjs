// Baseline for the worker: a raw BullMQ Worker with a no-op processor, the same concurrency and connection
// settings as the service, and nothing else (no Nest, no logging, no metrics, no payload validation).
import { Worker } from 'bullmq';
import { answerCpuQueries } from './cpu-probe.mjs';

const worker = new Worker('jobs', async () => ({ pong: true }), {
  connection: { url: process.env.REDIS_URL, maxRetriesPerRequest: null },
  prefix: process.env.QUEUE_PREFIX,
  concurrency: Number(process.env.WORKER_CONCURRENCY),
});
worker.on('error', (error) => console.error(error.message));
await worker.waitUntilReady();
answerCpuQueries();
process.send?.('ready');
process.on('SIGTERM', () => worker.close().then(() => process.exit(0)));
