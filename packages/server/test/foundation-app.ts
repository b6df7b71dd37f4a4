/**
 * Builds the real application for the HTTP-layer tests: a temp data dir, a known JWT secret,
 * a fake wall clock for token expiry, and fixed hypervisor probe results.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Handlers } from '@vmkeep/api';
import { MockDriver } from '@vmkeep/hypervisor';
import pino from 'pino';
import { type AppOptions, createApp } from '../src/app.js';
import { signToken } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import type { ServerDeps } from '../src/deps.js';
import type { Clock } from '../src/domain/clock.js';
import { createServices } from '../src/services.js';

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

/**
 * Real services on a temp data dir with only the mock hypervisor registered (no guest image
 * needed), unless `overrides` replaces them.
 */
export async function testDeps(overrides: Partial<ServerDeps> = {}): Promise<ServerDeps> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vmkeep-foundation-'));
  const config = loadConfig({
    VMKEEP_DATA_DIR: dataDir,
    VMKEEP_MIN_SCHEDULE_INTERVAL: '1s',
    VMKEEP_MOCK_HYPERVISOR: '1',
  });
  const logger = pino({ level: 'silent' });
  const clock = overrides.clock ?? manualClock();
  const services =
    overrides.services ??
    (await createServices({
      config,
      logger,
      clock,
      drivers: new Map([['mock', new MockDriver({ clock })]]),
      skipDefaultImage: true,
    }));
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

/** The app plus a valid token for it. */
export async function testApp(options: AppOptions & { deps?: Partial<ServerDeps> } = {}) {
  const deps = await testDeps(options.deps);
  const app = createApp(deps, { handlers: options.handlers as Partial<Handlers> | undefined });
  const token = await signToken(deps.jwtSecret, { ttlMs: 3_600_000, nowMs: deps.clock.now() });
  return { app, deps, token, auth: { Authorization: `Bearer ${token}` } };
}
