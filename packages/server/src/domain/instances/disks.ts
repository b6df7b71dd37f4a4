/**
 * Creating guest disks: a blank sparse qcow2, or a qcow2 overlay on an image's root disk so
 * the image stays untouched. The work is done by the hypervisor package's `qemu-img` helpers;
 * this interface exists so tests and other hosts can swap it.
 */
import { createBlankDisk, createOverlay, diskInfo } from '@vmkeep/hypervisor';

/** What `qemu-img info` tells about an image file. */
export interface DiskInfo {
  format: 'qcow2' | 'raw';
  virtualSizeBytes: number;
  /** The file an overlay reads through to, when the image is one. */
  backingFile?: string;
}

/** Disk creation, behind an interface so tests may replace it. */
export interface DiskOps {
  /** A new sparse qcow2 of `sizeBytes` virtual size. */
  createBlank(path: string, sizeBytes: number): Promise<void>;
  /** A new qcow2 whose reads fall through to `backing` (absolute path) until written. */
  createOverlay(path: string, backing: string, backingFormat: DiskInfo['format']): Promise<void>;
  /** Format and virtual size of an image file; throws unless it is raw or qcow2. */
  info(path: string): Promise<DiskInfo>;
}

/** {@link DiskOps} on `qemu-img`. */
export function qemuImgDiskOps(qemuImg?: string): DiskOps {
  return {
    createBlank: (path, sizeBytes) => createBlankDisk(path, sizeBytes, 'qcow2', { qemuImg }),
    createOverlay: (path, backing, format) => createOverlay(path, backing, format, { qemuImg }),
    async info(path) {
      const info = await diskInfo(path, { qemuImg, forceShare: true });
      if (info.format !== 'qcow2' && info.format !== 'raw') {
        throw new Error(`${path} is a ${info.format} image; vmkeep boots raw or qcow2 disks`);
      }
      const out: DiskInfo = { format: info.format, virtualSizeBytes: info.virtualSizeBytes };
      if (info.backingFile) out.backingFile = info.backingFile;
      return out;
    },
  };
}
