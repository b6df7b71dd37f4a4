/**
 * Builds the real application for the HTTP tests: the real services (`createServices`) on a
 * temp data dir with only the mock hypervisor, a `default` image registered from dummy host
 * files (the mock boots nothing, it only checks the files are readable), a known JWT secret,
 * and an injected clock. `listen` puts it on a real socket at 127.0.0.1:<free port>.
 *
 * Everything built here is registered for {@link closeTestApps}; call it in `afterEach`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Handlers } from '@vmkeep/api';
import { MockDriver } from '@vmkeep/hypervisor';
import { createClient } from '@vmkeep/sdk';
import pino from 'pino';
import { type AppOptions, createApp } from '../src/app.js';
import { signToken } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import type { ServerDeps } from '../src/deps.js';
import type { Clock } from '../src/domain/clock.js';
import { createServices } from '../src/services.js';
import { FakeClock } from './support/fake-clock.js';

export const TEST_SECRET = new TextEncoder().encode('foundation-test-secret-0123456789abcdef');

/** A clock whose wall time only moves when a test sets `nowMs`. */
export interface ManualClock extends Clock {
  nowMs: number;
}

export function manualClock(startMs = Date.parse('2025-03-01T00:00:00Z')): ManualClock {
  const clock: ManualClock = {
    nowMs: startMs,
    now: () => clock.nowMs,
    // Time never passes on its own here, so a sleeper wakes only when it is aborted.
    sleep: (_ms, signal) =>
      new Promise<void>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
  };
  return clock;
}

/** Cleanups of everything built since the last {@link closeTestApps}, newest last. */
const cleanups: (() => void | Promise<void>)[] = [];

/** Closes the servers and services this module built and removes their temp dirs. */
export async function closeTestApps(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/**
 * Real services on a temp data dir with only the mock hypervisor registered (on the same
 * clock as everything else) and a `default` image, unless `overrides` replaces them.
 */
export async function testDeps(overrides: Partial<ServerDeps> = {}): Promise<ServerDeps> {
  const root = mkdtempSync(join(tmpdir(), 'vmkeep-foundation-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const config = loadConfig({
    VMKEEP_DATA_DIR: join(root, 'data'),
    VMKEEP_MIN_SCHEDULE_INTERVAL: '1s',
    VMKEEP_MOCK_HYPERVISOR: '1',
  });
  const logger = overrides.logger ?? pino({ level: 'silent' });
  const clock = overrides.clock ?? manualClock();
  let services = overrides.services;
  if (!services) {
    const built = await createServices({
      config,
      logger,
      clock,
      drivers: new Map([['mock', new MockDriver({ clock })]]),
      skipDefaultImage: true,
    });
    cleanups.push(async () => {
      for (const vm of mockDriverOf(built).liveVms) await vm.kill();
      await built.close();
    });
    const host = join(root, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'vmlinuz'), 'a kernel');
    writeFileSync(join(host, 'initrd'), 'an initrd');
    await built.images.ensureDefault({
      kernel: join(host, 'vmlinuz'),
      initrd: join(host, 'initrd'),
    });
    services = built;
  }
  return {
    config,
    logger,
    clock,
    services,
    jwtSecret: TEST_SECRET,
    capabilities: async () => [
      {
        name: 'qemu',
        available: true,
        reason: null,
        version: '7.2.0',
        accel: 'tcg',
        features: ['snapshots', 'standby', 'fork', 'pause'],
      },
    ],
    ...overrides,
  };
}

/** The mock driver the test services run their guests on. */
export function mockDriverOf(services: ServerDeps['services']): MockDriver {
  const driver = services.drivers.get('mock');
  if (!(driver instanceof MockDriver)) throw new Error('these services have no mock driver');
  return driver;
}

/** The app plus a valid token for it. */
export async function testApp(options: AppOptions & { deps?: Partial<ServerDeps> } = {}) {
  const deps = await testDeps(options.deps);
  const app = createApp(deps, { handlers: options.handlers as Partial<Handlers> | undefined });
  const token = await signToken(deps.jwtSecret, { ttlMs: 3_600_000, nowMs: deps.clock.now() });
  return { app, deps, token, auth: { Authorization: `Bearer ${token}` } };
}

/** {@link testApp} served on a real socket; `baseUrl` is `http://127.0.0.1:<port>`. */
export async function listen(options: AppOptions & { deps?: Partial<ServerDeps> } = {}) {
  const ctx = await testApp(options);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: ctx.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        // Open streams (a log follow) would hold `close` forever; they are the test's past.
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { ...ctx, server, baseUrl: `http://127.0.0.1:${port}` };
}

/**
 * The HTTP tests' fixture: {@link listen} on a {@link FakeClock} (waits, log polls and mock
 * delays move only when the test advances it), with a vmkeep SDK client and the mock driver.
 */
export async function sdkServer(options: AppOptions & { deps?: Partial<ServerDeps> } = {}) {
  const clock = new FakeClock();
  const ctx = await listen({ ...options, deps: { clock, ...options.deps } });
  const client = createClient({ baseUrl: ctx.baseUrl, token: ctx.token });
  return { ...ctx, clock, client, driver: mockDriverOf(ctx.deps.services) };
}
