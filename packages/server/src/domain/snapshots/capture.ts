/**
 * Capturing an instance into a snapshot directory, by its state:
 *
 * - Running or Paused: the driver snapshots the live guest, disks included; a Running guest is
 *   frozen only while the bytes are written and then resumed, a Paused one stays paused.
 * - Standby: the instance's saved memory state and its (idle) disks are copied; no VMM is
 *   started and the instance stays in Standby.
 * - Stopped: the disks are copied; no driver is called at all.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ResumeAfterSnapshotError,
  type SnapshotFile,
  type SnapshotManifest,
} from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from '../instances/context.js';
import { callDriver } from '../instances/driver-call.js';
import { copyFlatDir } from '../instances/files.js';
import { vmOf } from '../instances/resolve.js';
import { MANIFEST_FILE, readManifest, writeManifest, writeSourceFacts } from './payload.js';

/** The result of a capture. */
export interface Capture {
  manifest: SnapshotManifest;
  /** Set when the snapshot is complete but the guest could not be resumed afterwards. */
  resumeError?: ResumeAfterSnapshotError;
}

/** Writes a complete snapshot of `instance` into the empty directory `dir`. */
export async function capture(
  ctx: DomainContext,
  instance: InstanceRecord,
  dir: string,
  signal?: AbortSignal,
): Promise<Capture> {
  let result: Capture;
  if (instance.state === 'Running' || instance.state === 'Paused') {
    result = await captureLive(ctx, instance, dir, signal);
  } else if (instance.state === 'Standby') {
    result = { manifest: await captureStandby(ctx, instance, dir, signal) };
  } else {
    result = { manifest: await captureDisks(ctx, instance, dir, signal) };
  }
  await writeSourceFacts(dir, instance);
  return result;
}

async function captureLive(
  ctx: DomainContext,
  instance: InstanceRecord,
  dir: string,
  signal?: AbortSignal,
): Promise<Capture> {
  const vm = vmOf(ctx, instance);
  const call = {
    instance,
    vm,
    action: 'snapshot' as const,
    signal,
    advice: `no snapshot was kept and ${instance.name} is back as it was; retry the snapshot`,
  };
  try {
    return {
      manifest: await callDriver(ctx, call, () => vm.snapshot(dir, { includeDisks: true, signal })),
    };
  } catch (err) {
    // The payload is complete; only the guest is stuck. Keep the snapshot (BB-26 B).
    if (err instanceof ResumeAfterSnapshotError)
      return { manifest: err.manifest, resumeError: err };
    throw err;
  }
}

/** Copies the standby state plus the disks, and lists the disks in the manifest. */
async function captureStandby(
  ctx: DomainContext,
  instance: InstanceRecord,
  dir: string,
  signal?: AbortSignal,
): Promise<SnapshotManifest> {
  const started = ctx.clock.now();
  const standbyDir = ctx.paths.standbyDir(instance.id);
  const standby = await readManifest(standbyDir);
  await copyFlatDir(ctx.fs, standbyDir, dir, { skip: [MANIFEST_FILE], signal });
  const disks = await copyDisks(ctx, instance, dir, signal);
  const manifest: SnapshotManifest = {
    ...standby,
    spec: instance.spec,
    files: [...standby.files.filter((f) => f.role !== 'disk'), ...disks],
    createdAt: new Date(ctx.clock.now()).toISOString(),
    pauseMs: 0,
    totalMs: ctx.clock.now() - started,
  };
  await writeManifest(dir, manifest);
  return manifest;
}

/** A disk-only snapshot of a stopped instance, written without any driver call (BB-30). */
async function captureDisks(
  ctx: DomainContext,
  instance: InstanceRecord,
  dir: string,
  signal?: AbortSignal,
): Promise<SnapshotManifest> {
  const started = ctx.clock.now();
  const files = await copyDisks(ctx, instance, dir, signal);
  const manifest: SnapshotManifest = {
    version: 1,
    hypervisor: instance.hypervisor,
    // No VMM took part, so there is no version to record; restore boots the disks cold.
    hypervisorVersion: 'n/a',
    kind: 'disk-only',
    spec: instance.spec,
    runstateAtSnapshot: 'stopped',
    files,
    createdAt: new Date(ctx.clock.now()).toISOString(),
    pauseMs: 0,
    totalMs: ctx.clock.now() - started,
  };
  await writeManifest(dir, manifest);
  return manifest;
}

async function copyDisks(
  ctx: DomainContext,
  instance: InstanceRecord,
  dir: string,
  signal?: AbortSignal,
): Promise<SnapshotFile[]> {
  await mkdir(dir, { recursive: true });
  const files: SnapshotFile[] = [];
  for (const disk of instance.spec.disks) {
    signal?.throwIfAborted();
    const name = `${disk.id}.${disk.format}`;
    await ctx.fs.copyFile(disk.path, join(dir, name));
    const { size } = await stat(join(dir, name));
    files.push({ role: 'disk', path: name, bytes: size, diskId: disk.id });
  }
  return files;
}
