/** The `vmkeep` command line: `token`, and a few commands on the SDK. */
import { Command } from 'commander';
import { registerApiCommands } from './commands/api.js';
import { registerToken } from './commands/token.js';
import type { CliIo } from './io.js';

export function createProgram(io: CliIo): Command {
  const program = new Command('vmkeep')
    .description('vmkeep: virtual machines with scheduled snapshots')
    .option('--url <url>', 'server URL', io.env.VMKEEP_URL || 'http://127.0.0.1:8080')
    // No default here: commander would print the token itself in --help.
    .option('--token <token>', 'bearer token (default $VMKEEP_TOKEN)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();
  registerToken(program, io);
  registerApiCommands(program, io);
  return program;
}
