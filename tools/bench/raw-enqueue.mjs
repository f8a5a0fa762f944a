// Baseline for POST /api/job: raw BullMQ Queue.add of the same job from ENQUEUE_CONCURRENCY concurrent loops, in
// a process of its own so that its CPU time is its own. On { seconds } it adds for that long and answers with
// how many it added and how long it took; 'cpu' is answered by cpu-probe.mjs.
import { Queue } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { answerCpuQueries } from './cpu-probe.mjs';

const jobOptions = JSON.parse(process.env.JOB_OPTIONS);
const queue = new Queue('jobs', {
  connection: { url: process.env.REDIS_URL },
  prefix: process.env.QUEUE_PREFIX,
});
await queue.waitUntilReady();

async function addFor(seconds) {
  let added = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: Number(process.env.ENQUEUE_CONCURRENCY) }, async () => {
      while (performance.now() < deadline) {
        await queue.add('ping', { payload: {}, requestId: 'bench' }, jobOptions);
        added += 1;
      }
    }),
  );
  return { added, seconds: (performance.now() - started) / 1000 };
}

answerCpuQueries();
process.on('message', (message) => {
  if (typeof message === 'object' && message !== null && 'seconds' in message)
    void addFor(message.seconds).then((result) => process.send?.(result));
});
process.send?.('ready');
process.on('SIGTERM', () => queue.close().then(() => process.exit(0)));
