import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accelSettingFromEnv, probeAccel } from '../src/accel-probe.js';
import { readQemuVersion } from '../src/qemu/binary.js';
import { QemuDriver } from '../src/qemu/driver.js';
import { ensureGuestImage } from './support/qemu-guests.js';

describe('accelerator probe', () => {
  let cacheDir: string;

  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'vmkeep-accel-'));
  });

  afterEach(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('concludes TCG on this machine kind, where the KVM canary never reaches init, and caches it', async () => {
    const guest = await ensureGuestImage();
    const qemuVersion = (await readQemuVersion('qemu-system-x86_64')).full;
    const opts = {
      binary: 'qemu-system-x86_64',
      qemuVersion,
      cacheDir,
      guest,
      canaryDeadlineMs: 3000,
    };

    const verdict = await probeAccel(opts);

    expect(verdict).toMatchObject({ accel: 'tcg', cached: false });
    // Here QEMU either dies at once (an MSR it cannot set) or spins until the deadline.
    expect(verdict.reason).toMatch(/^KVM canary failed|^\/dev\/kvm/);
    const started = Date.now();
    expect(await probeAccel(opts)).toEqual({ ...verdict, cached: true });
    expect(Date.now() - started).toBeLessThan(500);
    // The canary's run dir is gone with it.
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('vmkeep-canary-'))).toEqual([]);
  });

  it('takes an explicit setting as given without booting anything', async () => {
    const verdict = await probeAccel({
      binary: '/nonexistent/qemu',
      qemuVersion: 'x',
      cacheDir,
      setting: 'kvm',
    });

    expect(verdict).toEqual({ accel: 'kvm', reason: 'configured: kvm', cached: false });
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('reads VMKEEP_ACCEL and rejects values it does not know', () => {
    expect(accelSettingFromEnv({})).toBe('auto');
    expect(accelSettingFromEnv({ VMKEEP_ACCEL: 'TCG' })).toBe('tcg');
    expect(() => accelSettingFromEnv({ VMKEEP_ACCEL: 'hvf' })).toThrow(/not one of kvm, tcg, auto/);
  });
});

describe('QemuDriver.probe', () => {
  it('reports the version, accelerator and features of the installed QEMU', async () => {
    const probe = await new QemuDriver({ accel: 'tcg' }).probe();

    expect(probe).toMatchObject({ kind: 'qemu', available: true, accel: 'tcg' });
    expect(probe.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(probe.features).toEqual(['snapshots', 'standby', 'fork', 'pause']);
  });

  it('reports unavailable, saying what to install, when the binary is missing', async () => {
    const probe = await new QemuDriver({ binary: '/nonexistent/qemu-system-x86_64' }).probe();

    expect(probe).toMatchObject({ kind: 'qemu', available: false, features: [] });
    expect(probe.reason).toMatch(/not found: install QEMU/);
  });
});
