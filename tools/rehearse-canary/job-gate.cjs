// Preloaded (`node --require`) into a rehearsal Job process started ahead of its measurement: blocks before the
// Job's command is even loaded until the rehearsal writes one byte on stdin. In a cluster the pod's container
// starts in a few seconds from a cached image; a cold `node` here takes as long in real time, which the time
// scale would turn into tens of production seconds. Starting it ahead keeps that artefact out of the timings.
const { readSync } = require('node:fs');

readSync(0, Buffer.alloc(1), 0, 1, null);
