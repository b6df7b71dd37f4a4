/**
 * A snapshot's payload on disk, `<data>/snapshots/<id>/`:
 *
 * - `manifest.json`: the driver's manifest (files by role, the device model, pause time); the
 *   domain writes it itself for disk-only captures and for captures of a Standby instance;
 * - `instance.json`: the source instance's facts (image, env, sizes), so a fork can rebuild an
 *   instance after the source is gone;
 * - the files the manifest lists: memory and device state, and a copy of every disk.
 *
 * Every path in the manifest is relative, so the directory can be written under `.tmp-<id>`
 * and renamed into place.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiskSpec, HypervisorKind, SnapshotManifest, VmSpec } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from '../instances/context.js';
import { copyFlatDir } from '../instances/files.js';

/** The manifest inside every snapshot (and standby) directory. */
export const MANIFEST_FILE = 'manifest.json';
/** The source instance's facts inside every snapshot directory. */
export const SOURCE_FILE = 'instance.json';

/** What a fork needs to know about the instance a snapshot was taken of. */
export interface SourceFacts {
  id: string;
  name: string;
  image: string;
  hypervisor: HypervisorKind;
  vcpus: number;
  memoryBytes: number;
  env: Record<string, string>;
  tags: Record<string, string>;
}

/** Records the source instance's facts in a snapshot directory. */
export async function writeSourceFacts(dir: string, instance: InstanceRecord): Promise<void> {
  const facts: SourceFacts = {
    id: instance.id,
    name: instance.name,
    image: instance.image,
    hypervisor: instance.hypervisor,
    vcpus: instance.vcpus,
    memoryBytes: instance.memoryBytes,
    env: instance.env,
    tags: instance.tags,
  };
  await writeFile(join(dir, SOURCE_FILE), `${JSON.stringify(facts, null, 2)}\n`);
}

/** The source facts of a stored snapshot. */
export async function readSourceFacts(
  ctx: DomainContext,
  snapshotId: string,
): Promise<SourceFacts> {
  const text = await readFile(join(ctx.paths.snapshot(snapshotId), SOURCE_FILE), 'utf8');
  return JSON.parse(text) as SourceFacts;
}

/** The manifest in `dir`. */
export async function readManifest(dir: string): Promise<SnapshotManifest> {
  return JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as SnapshotManifest;
}

/** Writes `manifest` into `dir`. */
export async function writeManifest(dir: string, manifest: SnapshotManifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Copies every disk of a snapshot into `targetDir` as a fresh working copy (reflinked where
 * possible) and returns the disks as a spec names them. Never shares a writable file with the
 * snapshot or with another restore of it.
 */
export async function stageDisks(
  ctx: DomainContext,
  snapshotDir: string,
  manifest: SnapshotManifest,
  targetDir: string,
  signal?: AbortSignal,
): Promise<DiskSpec[]> {
  const disks: DiskSpec[] = [];
  for (const file of manifest.files) {
    if (file.role !== 'disk') continue;
    signal?.throwIfAborted();
    const original = manifest.spec.disks.find((d) => d.id === file.diskId);
    if (!original) throw new Error(`snapshot disk ${file.path} names no disk of its spec`);
    const path = join(targetDir, `${original.id}.${original.format}`);
    await ctx.fs.copyFile(join(snapshotDir, file.path), path);
    disks.push({ ...original, path });
  }
  return disks;
}

/**
 * Writes the memory part of a Standby snapshot as an instance's own standby state: every file
 * but the disks, and a manifest that lists only those files and names the instance's disks.
 */
export async function stageStandbyState(
  ctx: DomainContext,
  snapshotDir: string,
  manifest: SnapshotManifest,
  targetDir: string,
  spec: VmSpec,
): Promise<void> {
  const diskFiles = manifest.files.filter((f) => f.role === 'disk').map((f) => f.path);
  await copyFlatDir(ctx.fs, snapshotDir, targetDir, {
    skip: [...diskFiles, MANIFEST_FILE, SOURCE_FILE],
  });
  await writeManifest(targetDir, {
    ...manifest,
    spec,
    files: manifest.files.filter((f) => f.role !== 'disk'),
  });
}

/** The spec an instance restored from a snapshot runs with: its device model, our paths. */
export function respec(
  manifest: SnapshotManifest,
  disks: DiskSpec[],
  serialLogPath: string,
): VmSpec {
  return { ...manifest.spec, disks, serialLogPath };
}
