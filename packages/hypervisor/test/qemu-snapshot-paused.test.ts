import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createOverlay } from '../src/disk.js';
import type { VmSpec } from '../src/types.js';
import { frozenGapsMs, ticksAround, whenFileAppears } from './support/heartbeat.js';
import { GuestTracker, guestSpec, readTickSector, tcgDriver } from './support/qemu-guests.js';
import { fetchQmpSchema, schemaProblems } from './support/qmp-schema.js';
import { SerialWatcher } from './support/serial.js';

const NOISE_MS = 150;
const guests = new GuestTracker();

afterEach(() => guests.cleanup());

afterAll(async () => {
  expect(schemaProblems(await fetchQmpSchema(), guests.commands)).toEqual([]);
});

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

const snapshotDir = async (dir: string, name: string) => {
  const path = join(dir, name);
  await mkdir(path);
  return path;
};

describe('snapshot of a paused guest (real QEMU under TCG)', () => {
  it('stays paused through repeated snapshots, resumes on request, and restores paused', async () => {
    const driver = tcgDriver();
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir);
    const vm = guests.track(await driver.start({ spec, runDir: join(dir, 'run') }));
    const serial = new SerialWatcher(spec.serialLogPath);
    try {
      await serial.waitForTick(1);
      await vm.pause();
      const pausedAt = Date.now();
      const lastBeforePause = serial.lastTick!;

      const first = await vm.snapshot(await snapshotDir(dir, 'snap-1'));
      // QEMU 7.2 refuses a second migration from `postmigrate`; the driver must still deliver.
      const second = await vm.snapshot(await snapshotDir(dir, 'snap-2'));

      for (const manifest of [first, second]) {
        expect(manifest).toMatchObject({
          runstateAtSnapshot: 'paused',
          pauseMs: 0,
          details: { method: 'paused' },
        });
      }
      expect(await sha256(join(dir, 'snap-2', 'memory.bin'))).toBe(
        await sha256(join(dir, 'snap-1', 'memory.bin')),
      );
      expect(await vm.status()).toBe('paused');
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(serial.lastTick).toEqual(lastBeforePause);
      const captured = await readTickSector(join(dir, 'snap-2', 'disk-disk0.qcow2'));
      expect([lastBeforePause.n, lastBeforePause.n - 1]).toContain(captured);

      // Resuming: the heartbeat shows the whole pause as frozen time, then goes on.
      await vm.resume();
      const resumedAt = Date.now();
      await serial.waitForMoreTicks(1);
      const [frozen] = frozenGapsMs(ticksAround(serial.ticks, pausedAt, resumedAt));
      expect(frozen).toBeGreaterThan(resumedAt - pausedAt - NOISE_MS);
      expect(frozen).toBeLessThan(resumedAt - pausedAt + NOISE_MS);
      // Having run again, the guest can be captured while running.
      const running = await vm.snapshot(await snapshotDir(dir, 'snap-3'));
      expect(running.runstateAtSnapshot).toBe('running');

      // The reused stream restores: paused (never running an instruction), then on from there.
      await vm.kill();
      const workDisk = join(dir, 'work-disk0.qcow2');
      await createOverlay(workDisk, join(dir, 'snap-2', 'disk-disk0.qcow2'), 'qcow2');
      const restoredSpec: VmSpec = { ...spec, disks: [{ ...spec.disks[0]!, path: workDisk }] };
      const offset = (await readFile(spec.serialLogPath)).length;
      const restored = guests.track(
        await driver.restore({
          snapshotDir: join(dir, 'snap-2'),
          spec: restoredSpec,
          runDir: join(dir, 'run-restored'),
          resume: false,
        }),
      );
      const after = new SerialWatcher(spec.serialLogPath, offset);
      try {
        expect(await restored.status()).toBe('paused');
        await new Promise((resolve) => setTimeout(resolve, 1200));
        expect(after.ticks).toEqual([]);
        await restored.resume();
        const [next] = await after.waitForMoreTicks(1);
        expect(next).toMatchObject({ n: lastBeforePause.n + 1, bootId: lastBeforePause.bootId });
      } finally {
        after.stop();
      }
    } finally {
      serial.stop();
    }
  });
});

describe('stop-copy capture (real QEMU under TCG)', () => {
  it('freezes the guest for the whole memory write, resumes it, and cancels the write on abort', async () => {
    const driver = tcgDriver({ snapshotMethod: 'stop-copy' });
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir);
    const vm = guests.track(await driver.start({ spec, runDir: join(dir, 'run') }));
    const serial = new SerialWatcher(spec.serialLogPath);
    try {
      await serial.waitForTick(1);

      const from = Date.now();
      const manifest = await vm.snapshot(await snapshotDir(dir, 'snap-1'));
      const to = Date.now();
      await serial.waitForMoreTicks(2);

      expect(manifest.details?.method).toBe('stop-copy');
      expect(await vm.status()).toBe('running');
      const frozen = frozenGapsMs(ticksAround(serial.ticks, from, to));
      expect(Math.max(...frozen)).toBeLessThanOrEqual(manifest.pauseMs + NOISE_MS);
      // Paused for the stream write, which dwarfs the ~15 ms of a background snapshot.
      expect(manifest.pauseMs).toBeGreaterThan(40);

      const aborted = join(dir, 'snap-aborted');
      const controller = new AbortController();
      const reason = new Error('user aborted');
      void whenFileAppears(aborted, 'memory.bin').then(() => controller.abort(reason));

      await expect(vm.snapshot(aborted, { signal: controller.signal })).rejects.toBe(reason);

      expect(vm.qmp.sentCommands.map((c) => c.execute)).toContain('migrate_cancel');
      expect(await readdir(aborted)).toEqual([]);
      expect(await vm.status()).toBe('running');
      await serial.waitForMoreTicks(1);
    } finally {
      serial.stop();
    }
  });
});
