'use strict';
// Preloaded into a real, built service process by the sustained-load chaos test, together with --expose-gc
// (`NODE_OPTIONS="--expose-gc --require <this file>"`). On SIGWINCH it runs a full garbage collection and writes
// the live heap as one JSON line on stdout, next to the service's own log lines. A heap sampled at random
// moments rises and falls with garbage not yet collected; the heap right after a full collection is what the
// process really keeps, so its growth across a load run is the leak, if there is one.
// SIGWINCH because the services handle only SIGTERM and SIGINT; SIGUSR1 would start Node's inspector.
process.on('SIGWINCH', () => {
  globalThis.gc();
  const { heapUsed, rss } = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ level: 'info', app: 'heap-probe', msg: 'heap after full gc', heapUsedBytes: heapUsed, rssBytes: rss })}\n`,
  );
});
