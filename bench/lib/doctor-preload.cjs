// Loaded (node -r) into a workload run under `clinic doctor`, after
// clinic's own sampler. Clinic injects its sampler through NODE_OPTIONS, so
// every worker thread and child process loads it too, and the threads —
// sharing the process's pid — all append to the main thread's sample file,
// which then fails to decode. Point everything started from here on at a
// scratch directory: the report gets the main thread (the kernel) alone.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { isMainThread } = require('node:worker_threads');

if (isMainThread && process.env.NODE_CLINIC_DOCTOR_DATA_PATH !== undefined) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'beamline-doctor-threads-'));
  process.env.NODE_CLINIC_DOCTOR_DATA_PATH = scratch;
  process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
}
