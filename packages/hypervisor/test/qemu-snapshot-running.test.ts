import { access, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOverlay, diskInfo } from '../src/disk.js';
import { isAlive } from '../src/process/proc.js';
import { PID_FILE } from '../src/process/vmm-process.js';
import { QemuError } from '../src/qemu/errors.js';
import type { QemuVm } from '../src/qemu/vm.js';
import type { SnapshotManifest, VmSpec } from '../src/types.js';
import { frozenGapsMs, ticksAround, whenFileAppears } from './support/heartbeat.js';
import { GuestTracker, guestSpec, readTickSector, tcgDriver } from './support/qemu-guests.js';
import { fetchQmpSchema, schemaProblems } from './support/qmp-schema.js';
import { SerialWatcher, type Tick } from './support/serial.js';

/** Serial polling (10 ms at each end), uptime's 10 ms resolution and TCG scheduling noise. */
const NOISE_MS = 150;

/**
 * One guest, captured while running, then used (in this order) for the abort case and finally
 * killed and restored: the cases share it because each boot costs ~3 s of TCG time.
 */
describe('snapshot of a running guest (real QEMU under TCG)', () => {
  const guests = new GuestTracker();
  const driver = tcgDriver();
  let dir: string;
  let spec: VmSpec;
  let source: QemuVm;
  let serial: SerialWatcher;
  let manifest: SnapshotManifest;
  let snapshotDir: string;
  let lastTickBefore: Tick;
  let lastTickAtEnd: Tick;
  let window: { from: number; to: number };

  beforeAll(async () => {
    dir = await guests.tempDir();
    spec = await guestSpec(dir);
    source = guests.track(await driver.start({ spec, runDir: join(dir, 'run') }));
    serial = new SerialWatcher(spec.serialLogPath);
    await serial.waitForTick(2);

    // QEMU hands the memory file's path to /bin/sh: quotes and `$(...)` must survive as text.
    snapshotDir = join(dir, `snap 1 it's "$(touch pwned)"`);
    await mkdir(snapshotDir);
    lastTickBefore = serial.lastTick!;
    const from = Date.now();
    manifest = await source.snapshot(snapshotDir);
    window = { from, to: Date.now() };
    lastTickAtEnd = serial.lastTick!;
    await serial.waitForMoreTicks(2);
  });

  afterAll(async () => {
    serial.stop();
    await guests.cleanup();
    expect(schemaProblems(await fetchQmpSchema(), guests.commands)).toEqual([]);
  });

  it('keeps the heartbeat going: the guest is never frozen longer than the measured pause', async () => {
    expect(manifest.details?.method).toBe('background-snapshot');
    expect(manifest.pauseMs).toBeGreaterThan(0);
    expect(manifest.pauseMs).toBeLessThan(manifest.totalMs);

    const around = ticksAround(serial.ticks, window.from, window.to);
    expect(around.length).toBeGreaterThanOrEqual(2);
    for (const frozen of frozenGapsMs(around)) {
      expect(frozen).toBeLessThanOrEqual(manifest.pauseMs + NOISE_MS);
    }
    expect(await source.status()).toBe('running');
  });

  it('writes the memory stream, a flattened disk copy and the manifest, and leaves the live disk as it was', async () => {
    expect((await readdir(snapshotDir)).sort()).toEqual([
      'disk-disk0.qcow2',
      'manifest.json',
      'memory.bin',
    ]);
    expect(JSON.parse(await readFile(join(snapshotDir, 'manifest.json'), 'utf8'))).toEqual(
      manifest,
    );
    expect(manifest).toMatchObject({
      hypervisor: 'qemu',
      kind: 'memory',
      runstateAtSnapshot: 'running',
      spec: { memoryMiB: 256, machine: source.launch.machine },
      details: { machine: source.launch.machine, cpu: 'qemu64', accel: 'tcg' },
    });
    const memory = manifest.files.find((f) => f.role === 'memory')!;
    expect(memory.bytes).toBe((await stat(join(snapshotDir, 'memory.bin'))).size);
    expect(memory.bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(manifest.files).toContainEqual(
      expect.objectContaining({ role: 'disk', path: 'disk-disk0.qcow2', diskId: 'disk0' }),
    );

    // The overlay that froze the disk was merged back: same file, no backing chain, no leftover.
    expect((await diskInfo(spec.disks[0]!.path, { forceShare: true })).backingFile).toBeUndefined();
    expect((await diskInfo(join(snapshotDir, 'disk-disk0.qcow2'))).backingFile).toBeUndefined();
    await expect(access(join(dir, 'run', 'disk0.overlay.qcow2'))).rejects.toThrow();
  });

  it('captures memory only, with no disk overlay at all, when disks are excluded (standby)', async () => {
    const standby = join(dir, 'standby');
    await mkdir(standby);
    const sentBefore = source.qmp.sentCommands.length;

    const memoryOnly = await source.snapshot(standby, { includeDisks: false });

    expect((await readdir(standby)).sort()).toEqual(['manifest.json', 'memory.bin']);
    expect(memoryOnly.files.map((f) => f.role)).toEqual(['memory']);
    const sent = source.qmp.sentCommands.slice(sentBefore).map((c) => c.execute);
    expect(sent).toContain('migrate');
    expect(sent).not.toContain('blockdev-snapshot-sync');
    await expect(access(join(dir, 'pwned'))).rejects.toThrow();
  });

  it('leaves the guest running and no files when aborted mid-capture, and can capture again', async () => {
    const aborted = join(dir, 'snap-aborted');
    const controller = new AbortController();
    const reason = new Error('user aborted');
    void whenFileAppears(aborted, 'memory.bin').then(() => controller.abort(reason));

    await expect(source.snapshot(aborted, { signal: controller.signal })).rejects.toBe(reason);

    expect(await readdir(aborted)).toEqual([]);
    expect(await source.status()).toBe('running');
    expect((await diskInfo(spec.disks[0]!.path, { forceShare: true })).backingFile).toBeUndefined();
    await serial.waitForMoreTicks(1);
    // QEMU is not wedged: the next capture works.
    const again = join(dir, 'snap-again');
    await mkdir(again);
    await expect(source.snapshot(again)).resolves.toMatchObject({ runstateAtSnapshot: 'running' });
  });

  it('restores into a new process that continues the heartbeat from the snapshot, without booting', async () => {
    await source.kill();
    const workDisk = join(dir, 'work-disk0.qcow2');
    await createOverlay(workDisk, join(snapshotDir, 'disk-disk0.qcow2'), 'qcow2');
    const offset = (await stat(spec.serialLogPath)).size;
    const restoredSpec: VmSpec = { ...spec, disks: [{ ...spec.disks[0]!, path: workDisk }] };

    const restored = guests.track(
      await driver.restore({ snapshotDir, spec: restoredSpec, runDir: join(dir, 'run-restored') }),
    );
    const after = new SerialWatcher(spec.serialLogPath, offset);
    try {
      const [first] = await after.waitForMoreTicks(2);
      expect(await restored.status()).toBe('running');

      // The next tick after the one printed last before the capture froze the guest.
      const previous = serial.ticks.find((t) => t.n === first!.n - 1)!;
      expect(first!.bootId).toBe(lastTickBefore.bootId);
      expect(previous.n).toBeGreaterThanOrEqual(lastTickBefore.n);
      expect(previous.n).toBeLessThanOrEqual(lastTickAtEnd.n);
      expect(first!.uptime).toBeGreaterThan(previous.uptime);
      expect(first!.uptime).toBeLessThan(previous.uptime + 2.5);
      expect(after.text).not.toContain('Linux version');
      expect(after.text).not.toContain('guest: init up');

      // The disk copy holds the tick of the capture moment: the last one written before the
      // freeze, or the one before it when the freeze fell between printing a tick and writing it.
      const captured = await readTickSector(join(snapshotDir, 'disk-disk0.qcow2'));
      expect([first!.n - 1, first!.n - 2]).toContain(captured);
      // The restored guest writes to its working copy, never to the snapshot.
      expect(await readTickSector(workDisk)).toBeGreaterThanOrEqual(first!.n);
      expect(await readTickSector(join(snapshotDir, 'disk-disk0.qcow2'))).toBe(captured);
    } finally {
      after.stop();
    }
    await restored.kill();
  });

  it("fails a restore into a different memory size with QEMU's reason and leaves no process", async () => {
    const runDir = join(dir, 'run-wrong');
    const workDisk = join(dir, 'wrong-disk0.qcow2');
    await createOverlay(workDisk, join(snapshotDir, 'disk-disk0.qcow2'), 'qcow2');
    const wrong: VmSpec = {
      ...spec,
      memoryMiB: 512,
      disks: [{ ...spec.disks[0]!, path: workDisk }],
    };

    const error = await driver.restore({ snapshotDir, spec: wrong, runDir }).catch((e) => e);

    expect(error).toBeInstanceOf(QemuError);
    expect(error).toMatchObject({ reason: 'restore_failed' });
    expect((error as Error).message).toMatch(/Size mismatch: pc\.ram: 0x10000000 != 0x20000000/);
    const pid = Number(await readFile(join(runDir, PID_FILE), 'utf8'));
    expect(await isAlive(pid)).toBe(false);
  });
});
