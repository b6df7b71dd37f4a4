/**
 * `npm start`: reads the configuration, makes the one root logger, serves the API, and stops
 * cleanly on SIGINT or SIGTERM. Prints the URL, the docs URL and a ready-to-use token.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import type { Schemas } from '@vmkeep/api';
import pino from 'pino';
import { createApp } from './app.js';
import { resolveJwtSecret, signToken } from './auth.js';
import { loadConfig, type ServerConfig } from './config.js';
import type { ServerDeps } from './deps.js';
import { systemClock } from './domain/clock.js';

type Capability = Schemas['HypervisorCapability'];

/** Lifetime of the token printed at start. */
const PRINTED_TOKEN_TTL_MS = 7 * 24 * 3_600_000;

/** The first line of `<binary> --version`, or undefined when it cannot run. */
async function versionOf(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)(binary, ['--version'], { timeout: 5_000 });
    return /(\d+\.\d+(?:\.\d+)?)/.exec(stdout)?.[1] ?? stdout.split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * What `/capabilities` reports until the server is wired to the drivers' own `probe()`: which
 * VMM binaries run here and whether KVM is usable. Computed once; hosts do not change under a
 * running server.
 */
async function probeHost(config: ServerConfig): Promise<Capability[]> {
  const kvm = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  const qemu = await versionOf('qemu-system-x86_64');
  const ch = await versionOf('cloud-hypervisor');
  const results: Capability[] = [
    {
      name: 'cloud-hypervisor',
      available: ch !== undefined && kvm,
      reason:
        ch === undefined
          ? 'cloud-hypervisor binary not found on PATH'
          : kvm
            ? null
            : 'cloud-hypervisor needs /dev/kvm, which is missing or not accessible',
      version: ch ?? null,
      accel: ch !== undefined && kvm ? 'kvm' : null,
      features: ch !== undefined && kvm ? ['snapshots', 'standby', 'fork', 'pause'] : [],
    },
    {
      name: 'qemu',
      available: qemu !== undefined,
      reason: qemu === undefined ? 'qemu-system-x86_64 not found on PATH' : null,
      version: qemu ?? null,
      accel: qemu === undefined ? null : kvm ? 'kvm' : 'tcg',
      features: qemu === undefined ? [] : ['snapshots', 'standby', 'fork', 'pause'],
    },
  ];
  if (config.mockHypervisor) {
    results.push({
      name: 'mock',
      available: true,
      reason: null,
      version: config.version,
      accel: null,
      features: ['snapshots', 'standby', 'fork', 'pause'],
    });
  }
  return results;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const jwtSecret = await resolveJwtSecret({
    envSecret: config.jwtSecret,
    dataDir: config.dataDir,
  });
  const probe = probeHost(config);
  const deps: ServerDeps = {
    config,
    logger,
    clock: systemClock,
    jwtSecret,
    capabilities: () => probe,
  };

  const app = createApp(deps);
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    const url = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
    logger.info({ url, dataDir: config.dataDir }, 'vmkeep listening');
    void signToken(jwtSecret, { ttlMs: PRINTED_TOKEN_TTL_MS }).then((token) => {
      process.stdout.write(
        `\nvmkeep ${config.version} is listening on ${url}\n` +
          `  API reference: ${url}/docs\n` +
          `  token (7 days): ${token}\n` +
          `  try: curl -H "Authorization: Bearer $TOKEN" ${url}/capabilities\n\n`,
      );
    });
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    server.close((error) => {
      if (error) logger.error({ err: error }, 'error while closing the HTTP server');
      process.exit(error ? 1 : 0);
    });
    // Open streams (log follows) would keep close() waiting; they are cut after a grace period.
    setTimeout(() => {
      logger.warn('connections still open after 5s; exiting');
      process.exit(0);
    }, 5_000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`vmkeep: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
