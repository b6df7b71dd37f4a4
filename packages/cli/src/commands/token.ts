/**
 * `vmkeep token`: prints a bearer token signed with the server's secret — `JWT_SECRET` when
 * set, else `<data-dir>/jwt-secret` (created if the server has not started yet, so both agree).
 */
import { resolve } from 'node:path';
import { parseTokenTtl, resolveJwtSecret, signToken } from '@vmkeep/server/auth';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerToken(program: Command, io: CliIo): void {
  program
    .command('token')
    .description("print a bearer token signed with the server's secret")
    .option('--data-dir <dir>', 'the server data directory', io.env.VMKEEP_DATA_DIR || './data')
    .option('--ttl <duration>', 'token lifetime, as a Go duration', '168h')
    .action(async (options: { dataDir: string; ttl: string }) => {
      const ttlMs = parseTokenTtl(options.ttl);
      const secret = await resolveJwtSecret({
        envSecret: io.env.JWT_SECRET || undefined,
        dataDir: resolve(options.dataDir),
      });
      io.stdout(`${await signToken(secret, { ttlMs })}\n`);
    });
}
