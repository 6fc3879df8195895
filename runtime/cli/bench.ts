// `runtime bench [--quick] [--threads N] [--durability full|normal] [WORKLOAD...]`:
// runs the benchmark harness (bench/run.js, plain JavaScript beside the
// package's dist/) in a child process with the same arguments and this
// terminal, and exits with its code. The harness is a separate process
// because it starts and measures nodes of its own; this one must not skew
// them.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { BeamlineError, ErrorCodes } from '../errors.js';

// dist/runtime/cli/bench.js → <package root>/bench/run.js
const RUN = fileURLToPath(new URL('../../../bench/run.js', import.meta.url));

export async function benchCommand(argv: string[]): Promise<number> {
  if (!fs.existsSync(RUN)) {
    // bench/ is not in the published package: it needs a checkout.
    throw new BeamlineError(ErrorCodes.ARG_INVALID, `bench: the benchmark harness is not installed (looked at ${RUN}); run it from a checkout of beamline`);
  }
  const child = spawn(process.execPath, [RUN, ...argv], { stdio: 'inherit' });
  // Ctrl-C reaches the harness through the terminal's process group; we only
  // wait for it to finish and report how it ended.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0))));
    });
  } finally {
    process.removeListener('SIGINT', ignore);
  }
}
