import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isAlive, readCmdline } from '../src/process/proc.js';
import { PID_FILE } from '../src/process/vmm-process.js';
import { defaultMachineType, readQemuVersion } from '../src/qemu/binary.js';
import { QemuError } from '../src/qemu/errors.js';
import type { VmEvent } from '../src/types.js';
import { GuestTracker, guestSpec, tcgDriver } from './support/qemu-guests.js';
import { fetchQmpSchema, schemaProblems } from './support/qmp-schema.js';
import { SerialWatcher } from './support/serial.js';

const guests = new GuestTracker();
const driver = tcgDriver();

afterEach(() => guests.cleanup());

afterAll(async () => {
  // Every command the driver sent in this file exists in the real binary and takes those arguments.
  const problems = schemaProblems(await fetchQmpSchema(), guests.commands);
  expect(guests.commands.length).toBeGreaterThan(0);
  expect(problems).toEqual([]);
});

describe('QemuDriver lifecycle (real QEMU under TCG)', () => {
  it('boots the default guest, pauses and resumes it, and powers it off through ACPI', async () => {
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir);
    const runDir = join(dir, 'run');

    const vm = guests.track(await driver.start({ spec, runDir }));
    const events: VmEvent[] = [];
    vm.on((event) => events.push(event));
    const serial = new SerialWatcher(spec.serialLogPath);
    try {
      const first = await serial.waitForTick(1);
      expect(serial.text).toContain('Linux version');
      expect(serial.text).toContain(`guest: init up boot_id=${first.bootId}`);
      expect(await vm.status()).toBe('running');
      const version = await readQemuVersion('qemu-system-x86_64');
      expect(vm.launch.machine).toBe(defaultMachineType(version));
      expect((await readCmdline(vm.pid))?.join(' ')).toContain(`-machine ${vm.launch.machine}`);

      // Paused: the heartbeat stops, and pausing twice is harmless.
      await vm.pause();
      await vm.pause();
      expect(await vm.status()).toBe('paused');
      const frozenAt = serial.ticks.length;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(serial.ticks.length).toBe(frozenAt);

      await vm.resume();
      await vm.resume();
      expect(await vm.status()).toBe('running');
      await serial.waitForMoreTicks(1);

      // The power button reaches the guest's acpid, which powers off; QEMU then exits cleanly.
      const exit = await vm.shutdown({ timeoutMs: 15_000 });
      expect(exit.code).toBe(0);
      expect(serial.text).toContain('guest: power button');
      expect(await vm.status()).toBe('exited');
      expect(await isAlive(vm.pid)).toBe(false);
      await expect(access(join(runDir, 'qmp.sock'))).rejects.toThrow();
      const states = events.flatMap((e) => (e.type === 'state' ? [e.state] : []));
      expect(states).toEqual(expect.arrayContaining(['paused', 'running', 'shutdown', 'exited']));
      expect(events.at(-1)).toMatchObject({ type: 'exit', exit: { code: 0 } });
    } finally {
      serial.stop();
    }
  });

  it('leaves the guest running on detach, re-attaches from a new driver, and quits a guest deaf to ACPI', async () => {
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir, { disk: false });
    // This guest ignores the power button, so shutdown must fall back to `quit`.
    spec.cmdline += ' noacpid';
    const runDir = join(dir, 'run');
    const vm = guests.track(await driver.start({ spec, runDir }));
    const serial = new SerialWatcher(spec.serialLogPath);
    try {
      await serial.waitForTick(0);

      await vm.detach();
      await expect(vm.status()).rejects.toBeInstanceOf(QemuError);
      const attached = guests.track((await tcgDriver().attach(runDir, spec))!);

      expect(attached.pid).toBe(vm.pid);
      expect(await attached.status()).toBe('running');
      await serial.waitForMoreTicks(1);
      const exit = await attached.shutdown({ timeoutMs: 1500 });
      // Not its parent, the re-attached handle cannot know the exit status; the spawner can.
      expect(exit.code).toBeNull();
      expect((await vm.exited).code).toBe(0);
      expect(attached.qmp.sentCommands.map((c) => c.execute)).toEqual(
        expect.arrayContaining(['system_powerdown', 'quit']),
      );
      expect(serial.text).not.toContain('power button');
      expect(await attached.status()).toBe('exited');
      expect(await tcgDriver().attach(runDir, spec)).toBeUndefined();
    } finally {
      serial.stop();
    }
  });

  it("fails to start with QEMU's own reason and leaves no process when a disk is missing", async () => {
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir, { disk: false });
    spec.disks.push({ id: 'disk0', path: join(dir, 'missing.qcow2'), format: 'qcow2' });
    const runDir = join(dir, 'run');

    const error = await driver.start({ spec, runDir }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(QemuError);
    expect(error).toMatchObject({ reason: 'start_failed' });
    expect((error as Error).message).toMatch(/Could not open '.*missing\.qcow2'/);
    const pid = Number(await readFile(join(runDir, PID_FILE), 'utf8'));
    expect(await isAlive(pid)).toBe(false);
  });

  it('keeps its control socket under /tmp when the run dir path is too long for a unix socket', async () => {
    const dir = await guests.tempDir();
    const spec = await guestSpec(dir, { disk: false });
    const runDir = join(dir, 'r'.repeat(100));

    const vm = guests.track(await driver.start({ spec, runDir, paused: true }));

    expect(vm.launch.qmpSocket).toMatch(/^\/tmp\/vmkeep-[0-9a-f]{16}\/qmp\.sock$/);
    expect(await vm.status()).toBe('paused');
    await vm.kill();
    await expect(access(join(vm.launch.qmpSocket, '..'))).rejects.toThrow();
  });

  it('flags unknown commands and arguments in the schema check itself', async () => {
    const schema = await fetchQmpSchema();

    expect(schemaProblems(schema, [{ execute: 'cont' }])).toEqual([]);
    expect(schemaProblems(schema, [{ execute: 'no-such-command' }])).toEqual([
      'no-such-command: no such command',
    ]);
    expect(
      schemaProblems(schema, [
        {
          execute: 'migrate-set-capabilities',
          arguments: { capabilities: [{ capability: 'no-such-cap', state: true }] },
        },
        { execute: 'blockdev-snapshot-sync', arguments: { 'snapshot-fil': '/x' } },
      ]),
    ).toEqual([
      'migrate-set-capabilities.capabilities[0].capability: no-such-cap is not a valid value',
      'blockdev-snapshot-sync: unknown argument snapshot-fil',
      'blockdev-snapshot-sync: missing required snapshot-file',
    ]);
  });
});
