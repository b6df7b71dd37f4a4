/**
 * A real vmkeep server for tests that talk to it over a socket: `createServices` on a temp data
 * dir with the system clock, the app from `createApp`, listening on 127.0.0.1 at a free port,
 * and a token for it. What `main` does, minus signals and printing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { MockDriver } from '@vmkeep/hypervisor';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { signToken } from '../../src/auth.js';
import { loadConfig, type ServerConfig } from '../../src/config.js';
import { systemClock } from '../../src/domain/clock.js';
import { capabilitiesOf, createServices, type Services } from '../../src/services.js';

export interface LiveServer {
  baseUrl: string;
  token: string;
  config: ServerConfig;
  services: Services;
  /** Stops listening, stops the services (per `VMKEEP_ON_EXIT`), removes the data dir. */
  close(): Promise<void>;
}

export interface LiveServerOptions {
  /** Server environment on top of a temp `VMKEEP_DATA_DIR`. */
  env?: Record<string, string>;
  /**
   * Only the mock hypervisor, and a `default` image made of placeholder files (the mock boots
   * nothing). Without it: the drivers the configuration selects, and the real guest image
   * that setup built.
   */
  mock?: boolean;
}

const SECRET = new TextEncoder().encode('http-live-server-secret-0123456789abcdef');

export async function startLiveServer(options: LiveServerOptions = {}): Promise<LiveServer> {
  const root = mkdtempSync(join(tmpdir(), 'vmkeep-live-'));
  const config = loadConfig({ VMKEEP_DATA_DIR: join(root, 'data'), ...options.env });
  const logger = pino({ level: 'silent' });
  const services = await createServices({
    config,
    logger,
    clock: systemClock,
    ...(options.mock
      ? { drivers: new Map([['mock', new MockDriver()]]), skipDefaultImage: true }
      : {}),
  });
  if (options.mock) {
    writeFileSync(join(root, 'vmlinuz'), 'a kernel');
    writeFileSync(join(root, 'initrd'), 'an initrd');
    await services.images.ensureDefault({
      kernel: join(root, 'vmlinuz'),
      initrd: join(root, 'initrd'),
    });
  }
  const app = createApp({
    config,
    logger,
    clock: systemClock,
    jwtSecret: SECRET,
    capabilities: capabilitiesOf(services.drivers),
    services,
  });
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
      resolve((info as AddressInfo).port),
    );
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    token: await signToken(SECRET, { ttlMs: 3_600_000 }),
    config,
    services,
    async close() {
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      await services.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
