/**
 * `vmkeep token`: prints a bearer token signed with the server's secret — `JWT_SECRET` when
 * set, else `<data-dir>/jwt-secret` (created if the server has not started on that data dir
 * yet, so both agree). Without a data dir it refuses: a token signed with a secret made up in
 * the wrong folder would only earn 401s.
 */
import { existsSync } from 'node:fs';
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
      const envSecret = io.env.JWT_SECRET || undefined;
      const dataDir = resolve(options.dataDir);
      if (!envSecret && !existsSync(dataDir)) {
        throw new Error(
          `no vmkeep data directory at ${dataDir}: run this in the folder where you ran ` +
            '`npm start`, or pass --data-dir (VMKEEP_DATA_DIR), or set JWT_SECRET',
        );
      }
      const secret = await resolveJwtSecret({ envSecret, dataDir });
      io.stdout(`${await signToken(secret, { ttlMs })}\n`);
    });
}
