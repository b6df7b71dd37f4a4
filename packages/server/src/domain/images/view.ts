/** The Image resource as the API returns it. */
import type { ImageRecord } from '../../store/images-repo.js';
import { toRfc3339 } from '../clock.js';

/** An image as `GET /images` returns it. */
export interface Image {
  name: string;
  /** Paths of the copies inside the data dir. */
  kernel_path: string;
  initrd_path: string | null;
  disk_path: string | null;
  cmdline: string;
  size_bytes: number;
  created_at: string;
}

/** The API object for an image record. */
export function toImage(record: ImageRecord): Image {
  return {
    name: record.name,
    kernel_path: record.kernelPath,
    initrd_path: record.initrdPath,
    disk_path: record.diskPath,
    cmdline: record.cmdline,
    size_bytes: record.sizeBytes,
    created_at: toRfc3339(record.createdAt),
  };
}
