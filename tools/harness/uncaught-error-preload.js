'use strict';
// Preloaded into a real, built service process (`NODE_OPTIONS=--require <this file>`) by crash.chaos.spec.ts.
// On SIGWINCH it raises an error outside any request handler or job, from a timer callback, where no framework
// code can catch it: the kind of fault only a restart recovers from. The service must not swallow it; it must
// exit non-zero so the kubelet restarts the container (and the crash-loop alert counts the restarts).
// SIGWINCH because Nest's shutdown hooks listen to SIGTERM, SIGINT, SIGHUP, SIGUSR2 and the fatal signals, and
// SIGUSR1 starts Node's inspector: SIGWINCH means nothing to the service, so the fault is ours alone.
const mode = process.env.OPSFORGE_CHAOS_UNCAUGHT;

process.on('SIGWINCH', () => {
  setImmediate(() => {
    if (mode === 'rejection') {
      void Promise.reject(new Error('chaos: unhandled promise rejection outside any handler'));
    } else {
      throw new Error('chaos: uncaught exception outside any handler');
    }
  });
});
