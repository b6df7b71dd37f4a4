/**
 * What stopping the server does to running guests, per `VMKEEP_ON_EXIT`: `keep` lets go of
 * them for the next start to re-attach, `shutdown` powers them off. `close()` says which it
 * did, so `npm start` can tell the user on Ctrl-C.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockDriver } from '@vmkeep/hypervisor';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { systemClock } from '../src/domain/clock.js';
import { createServices, type Services } from '../src/services.js';

const roots: string[] = [];

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Services on `root`'s data dir with one mock driver, which outlives them like a VMM would. */
async function open(root: string, driver: MockDriver, onExit: string): Promise<Services> {
  const config = loadConfig({ VMKEEP_DATA_DIR: join(root, 'data'), VMKEEP_ON_EXIT: onExit });
  const services = await createServices({
    config,
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    drivers: new Map([['mock', driver]]),
    skipDefaultImage: true,
  });
  await services.images.ensureDefault({
    kernel: join(root, 'vmlinuz'),
    initrd: join(root, 'initrd'),
  });
  return services;
}

/** Two guests, one running and one paused, on a fresh data dir. */
async function twoGuests(onExit: string) {
  const root = mkdtempSync(join(tmpdir(), 'vmkeep-exit-'));
  roots.push(root);
  writeFileSync(join(root, 'vmlinuz'), 'a kernel');
  writeFileSync(join(root, 'initrd'), 'an initrd');
  const driver = new MockDriver();
  const services = await open(root, driver, onExit);
  await services.instances.create({ name: 'running', image: 'default', hypervisor: 'mock' });
  await services.instances.create({ name: 'paused', image: 'default', hypervisor: 'mock' });
  await services.instances.pause('paused');
  return { root, driver, services };
}

describe('stopping the server', () => {
  it('keeps guests running and says so; the next start re-attaches them as they were', async () => {
    const { root, driver, services } = await twoGuests('keep');

    expect(await services.close()).toEqual({ kept: 2, stopped: 0 });
    expect(driver.liveVms).toEqual([]);

    const again = await open(root, driver, 'keep');
    const states = again.instances.list().items.map((i) => [i.name, i.state]);
    expect(states).toEqual([
      ['running', 'Running'],
      ['paused', 'Paused'],
    ]);
    expect(await again.close()).toEqual({ kept: 2, stopped: 0 });
  });

  it('with VMKEEP_ON_EXIT=shutdown powers every guest off and says so', async () => {
    const { root, driver, services } = await twoGuests('shutdown');

    expect(await services.close()).toEqual({ kept: 0, stopped: 2 });

    const again = await open(root, driver, 'shutdown');
    expect(again.instances.list().items.map((i) => i.state)).toEqual(['Stopped', 'Stopped']);
    expect(await again.close()).toEqual({ kept: 0, stopped: 0 });
  });
});
