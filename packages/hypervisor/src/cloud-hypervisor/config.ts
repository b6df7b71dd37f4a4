/**
 * Translation between vmkeep's {@link VmSpec} and Cloud Hypervisor's `VmConfig`, in both
 * directions the driver needs: building the config for `vm.create`, and rewriting a snapshot's
 * `config.json` so a restore opens fresh working copies instead of the captured disks.
 */
import type { DiskSpec, VmSpec } from '../types.js';
import type { ChSchemas, ChVmConfig } from './api-client.js';

const bytesPerMiB = 1024 * 1024;

/**
 * The `vm.create` body for a spec. The serial port writes to `serialPath`; the virtio console
 * is off because the guest logs to ttyS0.
 */
export function toVmConfig(spec: VmSpec, serialPath: string): ChVmConfig {
  return {
    cpus: { boot_vcpus: spec.vcpus, max_vcpus: spec.vcpus },
    memory: { size: spec.memoryMiB * bytesPerMiB },
    payload: {
      kernel: spec.kernel,
      cmdline: spec.cmdline,
      ...(spec.initrd === undefined ? {} : { initramfs: spec.initrd }),
    },
    disks: spec.disks.map(toDiskConfig),
    serial: { mode: 'File', file: serialPath },
    console: { mode: 'Off' },
  };
}

function toDiskConfig(disk: DiskSpec): ChSchemas['DiskConfig'] {
  return {
    id: disk.id,
    path: disk.path,
    readonly: disk.readonly ?? false,
    image_type: disk.format === 'qcow2' ? 'Qcow2' : 'Raw',
    // CH refuses a qcow2 image that has a backing file unless this is set (default false), and
    // vmkeep's qcow2 working copies are overlays on a base image.
    backing_files: disk.format === 'qcow2',
  };
}

/**
 * Points a snapshot's config at the restore target: each disk (matched by id) at the spec's
 * working copy, and the serial port at `serialPath`. Everything else (memory layout, vCPUs,
 * devices) must stay as captured, so a mismatch with the spec is an error instead of a
 * silently different guest. Returns a new object; `captured` is not modified.
 */
export function retargetConfig(captured: ChVmConfig, spec: VmSpec, serialPath: string): ChVmConfig {
  const mismatch = describeMismatch(captured, spec);
  if (mismatch) throw new Error(`snapshot does not match the restore spec: ${mismatch}`);

  const byId = new Map(spec.disks.map((disk) => [disk.id, disk]));
  const disks = (captured.disks ?? []).map((disk) => {
    const target = byId.get(disk.id ?? '');
    return target ? { ...disk, path: target.path } : disk;
  });
  const config: ChVmConfig = { ...captured, serial: { mode: 'File', file: serialPath } };
  if (captured.disks !== undefined) config.disks = disks;
  return config;
}

function describeMismatch(captured: ChVmConfig, spec: VmSpec): string | undefined {
  const memoryBytes = spec.memoryMiB * bytesPerMiB;
  if (captured.memory && captured.memory.size !== memoryBytes) {
    return `memory is ${captured.memory.size} bytes in the snapshot, ${memoryBytes} in the spec`;
  }
  if (captured.cpus && captured.cpus.boot_vcpus !== spec.vcpus) {
    return `vcpus is ${captured.cpus.boot_vcpus} in the snapshot, ${spec.vcpus} in the spec`;
  }
  const capturedIds = (captured.disks ?? []).map((disk) => disk.id ?? '(no id)').sort();
  const specIds = spec.disks.map((disk) => disk.id).sort();
  if (capturedIds.join(',') !== specIds.join(',')) {
    return `disk ids are [${capturedIds.join(', ')}] in the snapshot, [${specIds.join(', ')}] in the spec`;
  }
  return undefined;
}
