/**
 * The QEMU command line for a {@link VmSpec}. Start and restore build it with the same function,
 * because an incoming migration only succeeds into exactly the device model that wrote it
 * (machine type, RAM size, CPU model, devices, their ids and order).
 */
import { isAbsolute } from 'node:path';
import type { Accel, DiskSpec, VmSpec } from '../types.js';

/** How a guest was launched, beyond its spec; recorded in `vmm.json` and snapshot manifests. */
export interface QemuLaunch {
  /** Versioned machine type, e.g. `pc-q35-7.2`. */
  machine: string;
  accel: Accel;
  /** CPU model: `host` under KVM; a fixed named model under TCG so restores match. */
  cpu: string;
  qmpSocket: string;
}

export interface LaunchMode {
  /** `-S`: vCPUs stay stopped until `cont`. */
  paused?: boolean;
  /** `-incoming defer`: wait for `migrate-incoming` instead of booting. */
  incoming?: boolean;
}

/** QEMU node names: a letter first, at most 31 characters of letters, digits, `-`, `_`. */
const DISK_ID = /^[A-Za-z][A-Za-z0-9_-]{0,24}$/;

/** The argv (without the binary) that starts `spec`. */
export function buildQemuArgs(spec: VmSpec, launch: QemuLaunch, mode: LaunchMode = {}): string[] {
  const args = [
    ...['-machine', launch.machine, '-accel', launch.accel, '-cpu', launch.cpu],
    ...['-m', `${spec.memoryMiB}M`, '-smp', String(spec.vcpus)],
    ...['-nodefaults', '-no-user-config', '-display', 'none'],
    ...['-chardev', `socket,id=qmp,path=${opt(launch.qmpSocket)},server=on,wait=off`],
    ...['-mon', 'chardev=qmp,mode=control'],
    // append=on: a restored guest continues the instance's log instead of truncating it.
    ...['-chardev', `file,id=serial0,path=${opt(absolute(spec.serialLogPath))},append=on`],
    ...['-serial', 'chardev:serial0'],
    ...['-kernel', absolute(spec.kernel)],
    ...(spec.initrd ? ['-initrd', absolute(spec.initrd)] : []),
    ...['-append', spec.cmdline],
  ];
  for (const disk of spec.disks) args.push(...diskArgs(disk));
  if (mode.paused) args.push('-S');
  if (mode.incoming) args.push('-incoming', 'defer');
  return args;
}

/**
 * A disk as two named block nodes (protocol + format) and a virtio-blk device. QMP block
 * commands address nodes by name, so the format node is named after the disk id.
 */
function diskArgs(disk: DiskSpec): string[] {
  if (!DISK_ID.test(disk.id)) {
    throw new Error(`disk id "${disk.id}" must be a letter then up to 24 letters, digits, - or _`);
  }
  const ro = disk.readonly ? ',read-only=on' : '';
  return [
    ...[
      '-blockdev',
      `driver=file,filename=${opt(absolute(disk.path))},node-name=${fileNode(disk.id)}${ro}`,
    ],
    ...['-blockdev', `driver=${disk.format},file=${fileNode(disk.id)},node-name=${disk.id}${ro}`],
    ...['-device', `virtio-blk-pci,drive=${disk.id},id=${disk.id}-dev`],
  ];
}

/** The protocol-level node under a disk's format node. */
export function fileNode(diskId: string): string {
  return `${diskId}-file`;
}

/** QEMU's option parsers split on `,`; a literal comma in a value is written `,,`. */
function opt(value: string): string {
  return value.replaceAll(',', ',,');
}

function absolute(path: string): string {
  // QEMU runs in the run dir: a relative path would silently point somewhere else.
  if (!isAbsolute(path)) throw new Error(`path must be absolute: ${path}`);
  return path;
}
