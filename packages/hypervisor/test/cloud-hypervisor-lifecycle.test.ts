import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudHypervisorDriver } from '../src/cloud-hypervisor/driver.js';
import { CloudHypervisorProcessError } from '../src/cloud-hypervisor/errors.js';
import { powerStateOf } from '../src/cloud-hypervisor/state.js';
import { silentLogger } from '../src/logger.js';
import { isAlive } from '../src/process/proc.js';
import type { VmEvent } from '../src/types.js';
import { type ChTestBed, createTestBed } from './fake-ch/harness.js';

let bed: ChTestBed;
beforeEach(async () => {
  bed = await createTestBed();
});
afterEach(async () => {
  // Every request the driver sent passed the framing and spec checks.
  expect(bed.fake.violations).toEqual([]);
  await bed.cleanup();
});

describe('CloudHypervisorDriver.probe', () => {
  it('reports unavailable with the fix when the binary is not on PATH', async () => {
    const driver = new CloudHypervisorDriver({ logger: silentLogger, env: { PATH: bed.dir } });
    const probe = await driver.probe();
    expect(probe).toMatchObject({ kind: 'cloud-hypervisor', available: false, features: [] });
    expect(probe.reason).toMatch(/not found on PATH.*VMKEEP_CLOUD_HYPERVISOR_BIN/);
  });

  it('reports unavailable when VMKEEP_CLOUD_HYPERVISOR_BIN is not executable', async () => {
    const env = { VMKEEP_CLOUD_HYPERVISOR_BIN: bed.spec.kernel };
    const probe = await new CloudHypervisorDriver({ logger: silentLogger, env }).probe();
    expect(probe.available).toBe(false);
    expect(probe.reason).toContain('is not an executable file');
  });

  it('reports unavailable when the KVM device is missing', async () => {
    const driver = new CloudHypervisorDriver({
      logger: silentLogger,
      env: bed.fake.env(),
      kvmDevicePath: join(bed.dir, 'no-kvm'),
    });
    const probe = await driver.probe();
    expect(probe.available).toBe(false);
    expect(probe.reason).toContain('runs guests only on KVM');
  });

  it('reports the version vmm.ping answers and stops its throwaway VMM', async () => {
    bed.fake.version = '51.0.0';
    const probe = await bed.driver.probe();
    expect(probe).toMatchObject({ available: true, version: '51.0.0', accel: 'kvm' });
    expect(probe.features).toEqual(expect.arrayContaining(['snapshots', 'pause']));
    expect(bed.fake.endpoints()).toEqual(['GET /vmm.ping', 'PUT /vmm.shutdown']);
    const [pid] = bed.fake.vmms.keys();
    await expect.poll(() => isAlive(pid!)).toBe(false);
    expect(await bed.driver.probe()).toBe(probe);
  });
});

describe('CloudHypervisorDriver.start', () => {
  it('creates the VM from the spec, boots it and reports it running', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));

    expect(await vm.status()).toBe('running');
    expect(bed.fake.endpoints(vm.pid)).toEqual([
      'GET /vmm.ping',
      'PUT /vm.create',
      'PUT /vm.boot',
      'GET /vm.info',
    ]);
    const create = bed.fake.calls.find((call) => call.path === '/vm.create');
    expect(create?.body).toEqual({
      cpus: { boot_vcpus: 1, max_vcpus: 1 },
      memory: { size: 64 * 1024 * 1024 },
      payload: { kernel: bed.spec.kernel, initramfs: bed.spec.initrd, cmdline: bed.spec.cmdline },
      disks: [
        {
          id: 'disk0',
          path: bed.spec.disks[0]!.path,
          readonly: false,
          image_type: 'Raw',
          backing_files: false,
        },
      ],
      serial: { mode: 'File', file: join(bed.dir, 'run', 'serial.fifo') },
      console: { mode: 'Off' },
    });
    expect(await readFile(join(bed.dir, 'run', 'vmm.pid'), 'utf8')).toBe(`${vm.pid}\n`);
  });

  it('relays the serial port into the log, appending to what is already there', async () => {
    await writeFile(bed.spec.serialLogPath, 'earlier boot\n');
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    await vm.shutdown();
    await expect
      .poll(() => readFile(bed.spec.serialLogPath, 'utf8'))
      .toBe('earlier boot\nfake-ch 53.0.0: booted\n');
  });

  it('marks qcow2 disks as qcow2 with backing files allowed', async () => {
    const spec = { ...bed.spec, disks: [{ ...bed.spec.disks[0]!, format: 'qcow2' as const }] };
    bed.track(await bed.driver.start({ spec, runDir: join(bed.dir, 'run') }));
    const create = bed.fake.calls.find((call) => call.path === '/vm.create');
    expect(create?.body).toMatchObject({ disks: [expect.anything()] });
    expect((create!.body as { disks: unknown[] }).disks[0]).toMatchObject({
      image_type: 'Qcow2',
      backing_files: true,
    });
  });

  it('leaves a VM started paused unbooted until resume boots it', async () => {
    const runDir = join(bed.dir, 'run');
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir, paused: true }));
    expect(await vm.status()).toBe('starting');
    await vm.resume();
    expect(await vm.status()).toBe('running');
    expect(bed.fake.endpoints(vm.pid)).not.toContain('PUT /vm.resume');
    expect(bed.fake.endpoints(vm.pid)).toContain('PUT /vm.boot');
  });

  it('fails with the VMM stderr when the process exits before its API answers', async () => {
    bed.fake.startFailure = { code: 1, stderr: 'Error: failed to open /dev/kvm\n' };
    const start = bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') });
    await expect(start).rejects.toThrow(CloudHypervisorProcessError);
    await expect(start).rejects.toThrow(
      /exited before its API socket answered.*failed to open \/dev\/kvm/,
    );
  });

  it('kills the VMM when vm.boot fails, and reports CH’s reason', async () => {
    const spec = { ...bed.spec, kernel: join(bed.dir, 'missing-kernel') };
    await expect(bed.driver.start({ spec, runDir: join(bed.dir, 'run') })).rejects.toThrow(
      /PUT \/vm.boot failed with HTTP 500: .*missing-kernel/,
    );
    const [pid] = bed.fake.vmms.keys();
    await expect.poll(() => isAlive(pid!)).toBe(false);
  });
});

describe('CloudHypervisorVm pause and resume', () => {
  it('pauses and resumes once each however often they are called', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    const events: VmEvent[] = [];
    vm.on((event) => events.push(event));

    await vm.pause();
    await vm.pause();
    expect(await vm.status()).toBe('paused');
    await vm.resume();
    await vm.resume();
    expect(await vm.status()).toBe('running');

    const changes = bed.fake
      .endpoints(vm.pid)
      .filter((e) => e === 'PUT /vm.pause' || e === 'PUT /vm.resume');
    expect(changes).toEqual(['PUT /vm.pause', 'PUT /vm.resume']);
    expect(events.map((e) => (e.type === 'state' ? e.state : e.type))).toEqual([
      'paused',
      'running',
    ]);
  });

  it('serialises concurrent calls so they never interleave', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    bed.fake.fault('PUT /vm.pause', { delayMs: 100 }, 1);
    await Promise.all([vm.pause(), vm.resume(), vm.pause()]);
    expect(await vm.status()).toBe('paused');
    const calls = bed.fake.endpoints(vm.pid).slice(3, -1);
    expect(calls).toEqual([
      'GET /vm.info',
      'PUT /vm.pause',
      'GET /vm.info',
      'PUT /vm.resume',
      'GET /vm.info',
      'PUT /vm.pause',
    ]);
  });
});

describe('CloudHypervisorVm shutdown and exit', () => {
  it('powers off an ACPI-aware guest with the power button alone', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    const exit = await vm.shutdown({ timeoutMs: 2000 });
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(bed.fake.endpoints(vm.pid).at(-1)).toBe('PUT /vm.power-button');
    expect(await vm.status()).toBe('exited');
  });

  it('ends the VMM with vmm.shutdown when the guest ignores the power button', async () => {
    bed.fake.guestHandlesPowerButton = false;
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    const exit = await vm.shutdown({ timeoutMs: 200 });
    expect(exit.code).toBe(0);
    expect(bed.fake.endpoints(vm.pid).slice(-2)).toEqual([
      'PUT /vm.power-button',
      'PUT /vmm.shutdown',
    ]);
  });

  it('signals a VMM whose API does not answer', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    bed.fake.fault('PUT /vm.power-button', { hang: true });
    bed.fake.fault('PUT /vmm.shutdown', { hang: true });
    const exit = await vm.shutdown({ timeoutMs: 200 });
    expect(exit.signal).toBe('SIGTERM');
  });

  it('reports exited and emits an exit event when the VMM is killed', async () => {
    const vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
    const events: VmEvent[] = [];
    vm.on((event) => events.push(event));
    process.kill(vm.pid, 'SIGKILL');
    const exit = await vm.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(await vm.status()).toBe('exited');
    expect(events).toMatchObject([{ type: 'exit', exit: { signal: 'SIGKILL' } }]);
  });
});

describe('CloudHypervisorDriver.attach', () => {
  it('re-attaches to a VMM left running by a detached handle', async () => {
    const runDir = join(bed.dir, 'run');
    const first = await bed.driver.start({ spec: bed.spec, runDir });
    await first.pause();
    await first.detach();

    const again = bed.track((await bed.driver.attach(runDir, bed.spec))!);
    expect(again.pid).toBe(first.pid);
    expect(await again.status()).toBe('paused');
    await again.kill();
    expect(await again.status()).toBe('exited');
  });

  it('ignores a pid file whose pid now belongs to another process', async () => {
    const runDir = join(bed.dir, 'run');
    await mkdir(runDir);
    // A record as the supervisor writes it, but the pid is this test's own process.
    const record = { pid: process.pid, startTicks: 0, identity: join(runDir, 'api.sock') };
    await writeFile(join(runDir, 'vmm.json'), JSON.stringify(record));
    expect(await bed.driver.attach(runDir, bed.spec)).toBeUndefined();
  });

  it('finds nothing where no VMM runs', async () => {
    expect(await bed.driver.attach(join(bed.dir, 'nowhere'), bed.spec)).toBeUndefined();
  });
});

describe('powerStateOf', () => {
  it.each([
    ['Created', 'starting'],
    ['Running', 'running'],
    ['Paused', 'paused'],
    ['Shutdown', 'shutdown'],
    ['BreakPoint', 'paused'],
  ] as const)('maps CH state %s to %s', (chState, power) => {
    expect(powerStateOf[chState]).toBe(power);
  });
});
