/**
 * A memory snapshot of a Cloud Hypervisor guest: pause, copy the disks, `vm.snapshot`, resume.
 *
 * CH writes `config.json`, `state.json` and `memory-ranges` into the directory but snapshots no
 * disk content, so the disks are copied here, while the guest is paused, to pair them with the
 * memory image at one instant.
 */
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { copySparse } from '../disk.js';
import type { Logger } from '../logger.js';
import type {
  PowerState,
  SnapshotFile,
  SnapshotManifest,
  SnapshotOptions,
  VmSpec,
} from '../types.js';
import { ResumeAfterSnapshotError } from '../types.js';
import type { CloudHypervisorApi } from './api-client.js';

/** What a snapshot needs to know about the VM it captures. */
export interface SnapshotTarget {
  api: CloudHypervisorApi;
  spec: VmSpec;
  hypervisorVersion: string;
  logger: Logger;
  now: () => Date;
  /** Told about the pause and the resume, so `Vm.on` listeners see them. */
  onState: (state: PowerState) => void;
}

/** The name CH gives its config file; restore rewrites a copy of it. */
export const chConfigFile = 'config.json';
const chMemoryFile = 'memory-ranges';
export const manifestFile = 'manifest.json';
const safeDiskId = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Writes a snapshot of the guest into `dir`, an existing empty directory, and leaves the guest
 * as it found it (running stays running, paused stays paused).
 *
 * On failure before the snapshot is complete, everything written into `dir` is removed and a
 * guest this call paused is resumed, then the error is rethrown. If only the final resume fails,
 * the snapshot is kept and {@link ResumeAfterSnapshotError} carries its manifest.
 */
export async function captureSnapshot(
  target: SnapshotTarget,
  dir: string,
  options: SnapshotOptions = {},
): Promise<SnapshotManifest> {
  const { api, logger } = target;
  const { signal } = options;
  const includeDisks = options.includeDisks ?? true;
  const absDir = resolve(dir);
  const startedAt = performance.now();
  const createdAt = target.now().toISOString();
  await assertEmptyDir(absDir);
  for (const disk of target.spec.disks) {
    if (!safeDiskId.test(disk.id))
      throw new Error(`disk id ${JSON.stringify(disk.id)} cannot name a file`);
  }

  // 1. Read the state first: the guest must end up in it again.
  const { state } = await api.info(signal);
  if (state !== 'Running' && state !== 'Paused') {
    throw new Error(
      `cannot take a memory snapshot of a guest that is ${state}; it must be running or paused`,
    );
  }
  const wasRunning = state === 'Running';

  let pausedAt = 0;
  let files: SnapshotFile[];
  try {
    // 2. Pause: CH refuses to snapshot a running VM, and the disk copies must be of the same
    //    instant as the memory image. Not abortable: an abort mid-request would leave it
    //    unknown whether the guest is paused.
    if (wasRunning) {
      await api.pause();
      pausedAt = performance.now();
      target.onState('paused');
    }

    // 3. Disks first: `vm.snapshot` is the step that can be rejected for the guest's state,
    //    and a copy made after it would be of the same frozen disks anyway.
    signal?.throwIfAborted();
    const diskFiles = includeDisks ? await copyDisks(target.spec, absDir, signal) : [];

    // 4. Memory and device state, written by CH into the same directory.
    signal?.throwIfAborted();
    await api.snapshot(`file://${absDir}`, signal);
    files = [...(await describeChFiles(absDir, diskFiles)), ...diskFiles];
  } catch (err) {
    await removeContents(absDir, logger);
    if (wasRunning) await resumeAfterFailure(target);
    throw err;
  }

  // 5. Resume a guest that was running. The abort signal no longer applies: the snapshot is
  //    complete, and the guest must not stay frozen because the caller lost interest.
  let resumeError: unknown;
  if (wasRunning) {
    try {
      await api.resume();
      target.onState('running');
    } catch (err) {
      resumeError = err;
    }
  }
  const pauseMs = wasRunning ? Math.round(performance.now() - pausedAt) : 0;

  // 6. The manifest goes last, so a directory with a manifest is a complete snapshot.
  const manifest: SnapshotManifest = {
    version: 1,
    hypervisor: 'cloud-hypervisor',
    hypervisorVersion: target.hypervisorVersion,
    kind: 'memory',
    spec: target.spec,
    runstateAtSnapshot: wasRunning ? 'running' : 'paused',
    files,
    createdAt,
    pauseMs,
    totalMs: Math.round(performance.now() - startedAt),
    details: { method: 'vm.snapshot', disksIncluded: includeDisks },
  };
  try {
    await writeFile(join(absDir, manifestFile), `${JSON.stringify(manifest, null, 2)}\n`, {
      flag: 'wx',
    });
  } catch (err) {
    await removeContents(absDir, logger);
    throw err;
  }

  if (resumeError !== undefined) {
    logger.error({ err: resumeError, dir: absDir }, 'guest left paused after a complete snapshot');
    throw new ResumeAfterSnapshotError(manifest, { cause: resumeError });
  }
  logger.info({ dir: absDir, pauseMs, totalMs: manifest.totalMs }, 'snapshot written');
  return manifest;
}

async function copyDisks(spec: VmSpec, dir: string, signal?: AbortSignal): Promise<SnapshotFile[]> {
  const files: SnapshotFile[] = [];
  for (const disk of spec.disks) {
    signal?.throwIfAborted();
    const path = `disk-${disk.id}.${disk.format}`;
    await copySparse(disk.path, join(dir, path), signal);
    files.push({ role: 'disk', path, bytes: (await stat(join(dir, path))).size, diskId: disk.id });
  }
  return files;
}

/** Everything CH wrote, by role: its config, the guest RAM, and device state (the rest). */
async function describeChFiles(dir: string, diskFiles: SnapshotFile[]): Promise<SnapshotFile[]> {
  const ours = new Set(diskFiles.map((file) => file.path));
  const names = (await readdir(dir)).filter((name) => !ours.has(name)).sort();
  const files: SnapshotFile[] = [];
  for (const name of names) {
    const role: SnapshotFile['role'] =
      name === chConfigFile ? 'config' : name === chMemoryFile ? 'memory' : 'device-state';
    files.push({ role, path: name, bytes: (await stat(join(dir, name))).size });
  }
  return files;
}

async function assertEmptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir);
  // CH opens its files create-new, so leftovers would fail the snapshot half-way.
  if (entries.length > 0) throw new Error(`snapshot directory ${dir} is not empty`);
}

/** The directory was empty before this snapshot, so everything in it is ours to remove. */
async function removeContents(dir: string, logger: Logger): Promise<void> {
  try {
    for (const name of await readdir(dir))
      await rm(join(dir, name), { recursive: true, force: true });
  } catch (err) {
    logger.warn({ err, dir }, 'could not remove a failed snapshot; its files are left behind');
  }
}

/**
 * Returns a guest that was running before this snapshot to running, after the snapshot failed.
 * It asks first: a failed or timed-out pause may or may not have paused it. The snapshot's own
 * error is what the caller needs; a resume failure on top of it is logged.
 */
async function resumeAfterFailure(target: SnapshotTarget): Promise<void> {
  try {
    const { state } = await target.api.info();
    if (state !== 'Paused') return;
    await target.api.resume();
    target.onState('running');
  } catch (err) {
    target.logger.error({ err }, 'guest left paused: resume after a failed snapshot failed too');
  }
}
