/** The files of a QEMU snapshot directory and the QEMU-specific facts its manifest records. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from '../process/atomic-write.js';
import type { DiskSpec, SnapshotManifest } from '../types.js';
import type { QemuLaunch } from './args.js';

export const MANIFEST_FILE = 'manifest.json';
/** QEMU's migration stream: RAM and device state together. */
export const MEMORY_FILE = 'memory.bin';

/** How the memory was captured; recorded because the downtime means different things. */
export type CaptureMethod =
  /** stop → overlays → `migrate` with `background-snapshot`: QEMU resumes the guest itself. */
  | 'background-snapshot'
  /** stop → overlays → `migrate` → `cont`: paused for the whole memory write. */
  | 'stop-copy'
  /** The guest was already paused: plain `migrate`, it stays paused. */
  | 'paused';

/** `SnapshotManifest.details` of a QEMU snapshot: what restore needs beyond the spec. */
export interface QemuSnapshotDetails extends Record<string, unknown> {
  machine: string;
  cpu: string;
  accel: QemuLaunch['accel'];
  method: CaptureMethod;
  /** Bytes of the migration stream QEMU reported. */
  streamBytes: number;
}

/** The name of a disk's copy inside the snapshot directory; keeps the disk's format. */
export function diskFileName(disk: DiskSpec): string {
  return `disk-${disk.id}.${disk.format}`;
}

/** Writes `manifest.json` (temp + rename, flushed) into `dir`. */
export async function writeManifest(dir: string, manifest: SnapshotManifest): Promise<void> {
  const path = join(dir, MANIFEST_FILE);
  await writeAtomically(path, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads and checks a snapshot directory's manifest for a QEMU restore. */
export async function readQemuManifest(dir: string): Promise<SnapshotManifest> {
  let manifest: SnapshotManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${join(dir, MANIFEST_FILE)}: ${(error as Error).message}`);
  }
  if (manifest.hypervisor !== 'qemu') {
    throw new Error(`snapshot in ${dir} was taken by ${manifest.hypervisor}, not qemu`);
  }
  if (manifest.kind !== 'memory') {
    throw new Error(`snapshot in ${dir} holds no memory state (kind ${manifest.kind})`);
  }
  return manifest;
}

/** The manifest's QEMU details, with defaults for fields a hand-assembled manifest lacks. */
export function detailsOf(manifest: SnapshotManifest): Partial<QemuSnapshotDetails> {
  return (manifest.details ?? {}) as Partial<QemuSnapshotDetails>;
}
