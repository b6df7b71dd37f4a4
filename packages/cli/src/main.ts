/** Entry point of the `vmkeep` command line (`npm run token` runs `vmkeep token`). */
import { processIo } from './io.js';
import { createProgram } from './program.js';

createProgram(processIo)
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.stderr.write(`vmkeep: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
