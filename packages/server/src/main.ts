/**
 * `npm start`: reads the configuration, makes the one root logger, serves the API, and stops
 * cleanly on SIGINT or SIGTERM. Prints the URL, the docs URL and a ready-to-use token.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { createApp } from './app.js';
import { resolveJwtSecret, signToken } from './auth.js';
import { loadConfig } from './config.js';
import type { ServerDeps } from './deps.js';
import { systemClock } from './domain/clock.js';
import { capabilitiesOf, createServices, type GuestsAtExit } from './services.js';

/** Lifetime of the token printed at start. */
const PRINTED_TOKEN_TTL_MS = 7 * 24 * 3_600_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const jwtSecret = await resolveJwtSecret({
    envSecret: config.jwtSecret,
    dataDir: config.dataDir,
  });
  const services = await createServices({ config, logger, clock: systemClock });
  const deps: ServerDeps = {
    config,
    logger,
    clock: systemClock,
    jwtSecret,
    capabilities: capabilitiesOf(services.drivers),
    services,
  };

  const app = createApp(deps);
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    const url = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
    logger.info({ url, dataDir: config.dataDir }, 'vmkeep listening');
    void signToken(jwtSecret, { ttlMs: PRINTED_TOKEN_TTL_MS }).then((token) => {
      process.stdout.write(
        `\nvmkeep ${config.version} is listening on ${url}\n` +
          `  API reference: ${url}/docs\n` +
          `  token (7 days): ${token}\n\n` +
          `  export VMKEEP_URL=${url} VMKEEP_TOKEN=${token}\n` +
          `  curl -H "Authorization: Bearer $VMKEEP_TOKEN" $VMKEEP_URL/capabilities\n\n`,
      );
    });
  });

  // A port already taken: say so plainly, and let go of the guests (never power them off: the
  // server did not start) and of the data dir.
  server.once('error', (error: NodeJS.ErrnoException) => {
    const why =
      error.code === 'EADDRINUSE'
        ? `${config.host}:${config.port} is already in use; set VMKEEP_PORT to another port`
        : `cannot listen on ${config.host}:${config.port}: ${error.message}`;
    process.stderr.write(`vmkeep: ${why}\n`);
    void services.close({ onExit: 'keep' }).finally(() => process.exit(1));
  });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    // 1. Stop taking requests; open streams (log follows) are cut after a grace period.
    const grace = setTimeout(() => {
      logger.warn('connections still open after 5s; closing them');
      (server as Server).closeAllConnections();
    }, 5_000);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(grace);
    // 2. Let the scheduler finish or fail its runs, keep or shut down the guests
    //    (VMKEEP_ON_EXIT), close the database.
    try {
      const guests = await services.close();
      logger.info(guests, 'stopped');
      process.stdout.write(`\nvmkeep stopped; ${describeGuests(guests)}\n`);
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'error while stopping');
      process.exit(1);
    }
  };
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
}

function describeGuests({ kept, stopped }: GuestsAtExit): string {
  const count = (n: number) => `${n} guest${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (stopped > 0) parts.push(`${count(stopped)} powered off`);
  if (kept > 0) {
    parts.push(
      `${count(kept)} left running, to be re-attached at the next start ` +
        '(VMKEEP_ON_EXIT=shutdown powers guests off instead)',
    );
  }
  return parts.length > 0 ? parts.join('; ') : 'no guests were running';
}

main().catch((error: unknown) => {
  process.stderr.write(`vmkeep: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
