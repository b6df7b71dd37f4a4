/**
 * Per-test setup for the Cloud Hypervisor driver tests: a fake CH, a driver whose binary is the
 * fake's, and a guest spec whose kernel, initramfs and disk are real (small) files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudHypervisorDriver } from '../../src/cloud-hypervisor/driver.js';
import { silentLogger } from '../../src/logger.js';
import type { Vm, VmSpec } from '../../src/types.js';
import { FakeCloudHypervisor } from './fake-ch.js';

export interface ChTestBed {
  dir: string;
  fake: FakeCloudHypervisor;
  driver: CloudHypervisorDriver;
  spec: VmSpec;
  /** Kills every VM the test started (by pid) and removes all files. */
  cleanup(): Promise<void>;
  /** Registers a VM for cleanup and returns it. */
  track<T extends Vm>(vm: T): T;
}

/** The bytes of the guest's disk at boot; a snapshot's copy must hold exactly these. */
export const diskContent = Buffer.from('disk0 sector zero: tick 00000007\n'.padEnd(4096, '.'));

export async function createTestBed(
  options: { requestTimeoutMs?: number; now?: () => Date } = {},
): Promise<ChTestBed> {
  // /tmp, not os.tmpdir(): unix socket paths must stay under 108 bytes.
  const dir = await mkdtemp('/tmp/vmkeep-ch-');
  const fake = await FakeCloudHypervisor.start(join(dir, 'fake'));
  const driver = new CloudHypervisorDriver({
    logger: silentLogger,
    env: fake.env(),
    // Any read-write device will do: the fake needs no KVM, and CI hosts may lack /dev/kvm.
    kvmDevicePath: '/dev/null',
    startTimeoutMs: 5000,
    requestTimeoutMs: options.requestTimeoutMs ?? 5000,
    now: options.now,
  });

  await writeFile(join(dir, 'vmlinuz'), 'kernel');
  await writeFile(join(dir, 'initramfs.cpio.gz'), 'initramfs');
  await writeFile(join(dir, 'disk0.raw'), diskContent);
  const spec: VmSpec = {
    vcpus: 1,
    memoryMiB: 64,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initramfs.cpio.gz'),
    cmdline: 'console=ttyS0 panic=-1',
    disks: [{ id: 'disk0', path: join(dir, 'disk0.raw'), format: 'raw' }],
    serialLogPath: join(dir, 'serial.log'),
  };

  const vms: Vm[] = [];
  return {
    dir,
    fake,
    driver,
    spec,
    track(vm) {
      vms.push(vm);
      return vm;
    },
    async cleanup() {
      await Promise.all(vms.map((vm) => vm.kill()));
      await fake.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
