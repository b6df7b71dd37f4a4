/**
 * Real QEMU guests for integration tests: the project's default guest under TCG, one disk, a
 * serial log, and bookkeeping so every process a test starts is killed afterwards and every QMP
 * command the driver sent can be checked against QEMU's schema.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBlankDisk } from '../../src/disk.js';
import { defaultGuestImage, type GuestImage } from '../../src/guest-image.js';
import { QemuDriver, type QemuDriverOptions } from '../../src/qemu/driver.js';
import type { QemuVm } from '../../src/qemu/vm.js';
import type { QmpSentCommand } from '../../src/qmp/types.js';
import type { VmSpec } from '../../src/types.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Builds the default guest if this machine has not yet (idempotent, instant when cached). */
export async function ensureGuestImage(): Promise<GuestImage> {
  await run('bash', [join(repoRoot, 'scripts/build-guest.sh')], { timeout: 300_000 });
  return defaultGuestImage();
}

/** A driver on TCG (KVM cannot run guests on the project's machines) that logs nothing. */
export function tcgDriver(opts: QemuDriverOptions = {}): QemuDriver {
  return new QemuDriver({ accel: 'tcg', ...opts });
}

export interface GuestSpecOptions {
  memoryMiB?: number;
  /** Attach a 64 MiB qcow2 as `disk0` (the guest writes its tick into sector 0). */
  disk?: boolean;
}

/** A spec for the default guest whose files all live in `dir`. */
export async function guestSpec(dir: string, opts: GuestSpecOptions = {}): Promise<VmSpec> {
  const image = await ensureGuestImage();
  const disks: VmSpec['disks'] = [];
  if (opts.disk ?? true) {
    const path = join(dir, 'disk0.qcow2');
    await createBlankDisk(path, 64 * 1024 * 1024);
    disks.push({ id: 'disk0', path, format: 'qcow2' });
  }
  return {
    vcpus: 1,
    memoryMiB: opts.memoryMiB ?? 256,
    kernel: image.kernel,
    initrd: image.initrd,
    cmdline: image.cmdline,
    disks,
    serialLogPath: join(dir, 'serial.log'),
  };
}

/**
 * Tracks the guests of one test file: `track` every Vm, call `cleanup` in `afterEach`/`afterAll`.
 * Commands sent on every tracked connection are kept for the schema check.
 */
export class GuestTracker {
  readonly commands: QmpSentCommand[] = [];
  #vms = new Set<QemuVm>();
  #dirs: string[] = [];

  track<T extends QemuVm>(vm: T): T {
    this.#vms.add(vm);
    return vm;
  }

  /** Stops tracking `vm`, a handle that was detached: its process lives on under a new one. */
  forget(vm: QemuVm): void {
    this.commands.push(...vm.qmp.sentCommands);
    this.#vms.delete(vm);
  }

  async tempDir(prefix = 'vmkeep-qemu-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /** Kills every tracked guest (by pid) and removes the temp dirs. */
  async cleanup(): Promise<void> {
    for (const vm of this.#vms) {
      this.commands.push(...vm.qmp.sentCommands);
      await vm.kill();
    }
    this.#vms.clear();
    for (const dir of this.#dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Sector 0 of a qcow2 image as the guest wrote it (`tick 00000007`), read with qemu-io. */
export async function readTickSector(image: string, format = 'qcow2'): Promise<number | undefined> {
  const { stdout } = await run('qemu-io', ['-U', '-r', '-f', format, '-c', 'read -v 0 13', image]);
  // qemu-io -v prints hex and an ASCII column; the ASCII shows '.' for the space.
  const match = /tick.(\d{8})/.exec(stdout);
  return match ? Number(match[1]) : undefined;
}
