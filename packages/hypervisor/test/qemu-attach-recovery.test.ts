/**
 * A server that dies mid-snapshot leaves its guest running in QEMU with the capture half done.
 * Each case sets up such a leftover on a real guest (TCG) by hand, drops the QMP connection the
 * way a killed server does (`detach`), re-attaches from a new driver and checks what it finds.
 * The cases share one guest, in order, because each boot costs seconds of TCG time.
 */
import { access, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskInfo } from '../src/disk.js';
import { silentLogger } from '../src/logger.js';
import { groupMembers } from '../src/process/proc.js';
import { freezeDisk } from '../src/qemu/block.js';
import { execWriteUri } from '../src/qemu/exec-uri.js';
import { setBackgroundSnapshot, waitForMigration } from '../src/qemu/migration.js';
import { captureSnapshot } from '../src/qemu/snapshot.js';
import type { QemuVm } from '../src/qemu/vm.js';
import type { QmpClient } from '../src/qmp/client.js';
import { QmpError } from '../src/qmp/errors.js';
import { ResumeAfterSnapshotError, type VmSpec } from '../src/types.js';
import { GuestTracker, guestSpec, readTickSector, tcgDriver } from './support/qemu-guests.js';
import { fetchQmpSchema, schemaProblems } from './support/qmp-schema.js';
import { SerialWatcher } from './support/serial.js';

interface BlockNode {
  'node-name': string;
  file: string;
}

describe('re-attaching to a guest whose snapshot was cut short (real QEMU under TCG)', () => {
  const guests = new GuestTracker();
  let dir: string;
  let runDir: string;
  let spec: VmSpec;
  let overlayPath: string;
  let vm: QemuVm;
  let serial: SerialWatcher;

  /** Drops the connection as a killed server would, and attaches from a fresh driver. */
  async function crashAndAttach(): Promise<QemuVm> {
    guests.forget(vm);
    await vm.detach();
    const attached = await tcgDriver().attach(runDir, spec);
    expect(attached?.pid).toBe(vm.pid);
    vm = guests.track(attached!);
    return vm;
  }

  /** The highest tick surely on disk: the one before the last printed (printed, then written). */
  async function settledTick(): Promise<number> {
    const [tick] = await serial.waitForMoreTicks(1);
    return tick!.n - 1;
  }

  async function blockNodes(qmp: QmpClient): Promise<BlockNode[]> {
    return qmp.execute<BlockNode[]>('query-named-block-nodes', { flat: true });
  }

  /** No overlay node, no overlay file, and the disk's file is standalone again. */
  async function expectNoOverlay(): Promise<void> {
    const nodes = await blockNodes(vm.qmp);
    expect(nodes.map((n) => n['node-name'])).not.toContain('disk0-ovl');
    expect(nodes.map((n) => n.file)).not.toContain(overlayPath);
    await expect(access(overlayPath)).rejects.toThrow();
    expect((await diskInfo(spec.disks[0]!.path, { forceShare: true })).backingFile).toBeUndefined();
  }

  async function snapshotInto(name: string) {
    const target = join(dir, name);
    await mkdir(target);
    return { target, manifest: await vm.snapshot(target) };
  }

  beforeAll(async () => {
    dir = await guests.tempDir();
    runDir = join(dir, 'run');
    spec = await guestSpec(dir);
    overlayPath = join(runDir, 'disk0.overlay.qcow2');
    vm = guests.track(await tcgDriver().start({ spec, runDir }));
    serial = new SerialWatcher(spec.serialLogPath);
    await serial.waitForTick(1);
  });

  afterAll(async () => {
    serial.stop();
    await guests.cleanup();
    expect(schemaProblems(await fetchQmpSchema(), guests.commands)).toEqual([]);
  });

  it('merges an overlay left on a running guest into its disk, and captures again', async () => {
    await freezeDisk(vm.qmp, spec.disks[0]!, runDir);
    const frozen = await readTickSector(spec.disks[0]!.path);
    await serial.waitForMoreTicks(1);
    const writtenToOverlay = await settledTick();
    expect(await readTickSector(overlayPath)).toBeGreaterThanOrEqual(writtenToOverlay);
    expect(writtenToOverlay).toBeGreaterThan(frozen!);
    expect(await readTickSector(spec.disks[0]!.path)).toBe(frozen);

    await crashAndAttach();

    await expectNoOverlay();
    expect(vm.qmp.sentCommands.map((c) => c.execute)).toEqual(
      expect.arrayContaining(['block-commit', 'job-complete']),
    );
    expect(await vm.status()).toBe('running');
    // What the guest wrote while the overlay was its active layer is in the disk's own file.
    expect(await readTickSector(spec.disks[0]!.path)).toBeGreaterThanOrEqual(writtenToOverlay);
    const later = await settledTick();
    expect(await readTickSector(spec.disks[0]!.path)).toBeGreaterThanOrEqual(later);

    const { target, manifest } = await snapshotInto('after-overlay');
    expect(manifest).toMatchObject({ runstateAtSnapshot: 'running' });
    expect(await readTickSector(join(target, 'disk-disk0.qcow2'))).toBeGreaterThanOrEqual(later);
    await expectNoOverlay();
  });

  it('resumes a guest left stopped after a stop-copy memory write, merges, and captures again', async () => {
    // A capture of a running guest cut after its migration completed, before `cont`.
    await vm.qmp.execute('stop');
    await freezeDisk(vm.qmp, spec.disks[0]!, runDir);
    await setBackgroundSnapshot(vm.qmp, false);
    const since = vm.qmp.mark();
    await vm.qmp.execute('migrate', { uri: execWriteUri(join(dir, 'cut-memory.bin')) });
    expect((await waitForMigration(vm.qmp, { since, timeoutMs: 60_000 })).status).toBe('completed');
    await expect(vm.status()).resolves.toBe('paused');
    const ticksBefore = serial.ticks.length;

    await crashAndAttach();

    expect(await vm.status()).toBe('running');
    await serial.waitForMoreTicks(1);
    expect(serial.ticks.at(-1)!.n).toBeGreaterThan(serial.ticks[ticksBefore - 1]!.n);
    await expectNoOverlay();
    const written = await settledTick();
    expect(await readTickSector(spec.disks[0]!.path)).toBeGreaterThanOrEqual(written);
    await expect(snapshotInto('after-postmigrate')).resolves.toBeDefined();
    await expectNoOverlay();
  });

  it('waits out a migration left running on a paused guest and leaves the guest paused', async () => {
    await vm.pause();
    await setBackgroundSnapshot(vm.qmp, false);
    // A capture of a paused guest cut while its helper still writes the stream: the helper is
    // held back for 3 s, so the migration is still under way when the new driver attaches.
    const stream = join(dir, 'cut-paused-memory.bin');
    await vm.qmp.execute('migrate', { uri: `exec:sleep 3; cat > '${stream}'` });
    const { status } = await vm.qmp.execute<{ status: string }>('query-migrate');
    expect(['setup', 'active']).toContain(status);

    await crashAndAttach();

    const after = await vm.qmp.execute<{ status: string }>('query-migrate');
    expect(after.status).toBe('completed');
    expect(await groupMembers(vm.pid)).toEqual([]);
    // The user paused it: attach must not resume it (the server reports it Paused).
    expect(await vm.status()).toBe('paused');
    const frozenAt = serial.ticks.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(serial.ticks.length).toBe(frozenAt);

    await vm.resume();
    await serial.waitForMoreTicks(1);
    await expect(snapshotInto('after-waited')).resolves.toBeDefined();
  });

  it('keeps a complete snapshot and reports ResumeAfterSnapshotError when the guest will not run again', async () => {
    // QEMU gives no way to make `cont` fail on a healthy guest, so only that reply is replaced.
    const refuseCont = new Proxy(vm.qmp, {
      get(target, prop) {
        if (prop === 'execute') {
          return (command: string, ...rest: [Record<string, unknown>?]) =>
            command === 'cont'
              ? Promise.reject(new QmpError('cont', 'GenericError', 'injected refusal'))
              : target.execute(command, ...rest);
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const target = join(dir, 'resume-fails');
    await mkdir(target);
    const context = {
      qmp: refuseCont,
      pid: vm.pid,
      runDir,
      spec,
      launch: vm.launch,
      qemuVersion: 'test',
      method: 'stop-copy' as const,
      logger: silentLogger,
    };

    const error = await captureSnapshot(context, target).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResumeAfterSnapshotError);
    const { manifest, cause } = error as ResumeAfterSnapshotError;
    expect(cause).toBeInstanceOf(QmpError);
    expect(manifest).toMatchObject({
      runstateAtSnapshot: 'running',
      details: { method: 'stop-copy' },
    });
    expect((await readdir(target)).sort()).toEqual([
      'disk-disk0.qcow2',
      'manifest.json',
      'memory.bin',
    ]);
    expect(await vm.status()).toBe('paused');

    // The server's retry resumes it; the next capture merges whatever overlay is still there.
    await vm.resume();
    await serial.waitForMoreTicks(1);
    await expect(snapshotInto('after-refused-cont')).resolves.toBeDefined();
    await expectNoOverlay();
  });
});
