/**
 * Capturing a QEMU guest into a snapshot directory: the migration stream (RAM + device state) in
 * `memory.bin`, a flattened copy of each disk, and `manifest.json`. The guest is left as found:
 * a running guest is captured by `capture-running.ts`, a paused one by `capture-paused.ts`.
 * On any failure the files written so far are removed, except when only the guest's resume
 * failed: the snapshot is then kept and {@link ResumeAfterSnapshotError} carries its manifest.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ResumeAfterSnapshotError,
  type SnapshotFile,
  type SnapshotManifest,
  type SnapshotOptions,
} from '../types.js';
import { type Capture, type CaptureContext, copyDisks } from './capture.js';
import { capturePaused, reusePausedStream } from './capture-paused.js';
import { captureRunning } from './capture-running.js';
import { QemuError } from './errors.js';
import { diskFileName, MEMORY_FILE, type QemuSnapshotDetails, writeManifest } from './manifest.js';
import { fileBytes, settledStatus } from './migration.js';
import { recoverLeftovers } from './recover.js';

/** Writes a snapshot of the guest into `dir` (existing, empty) and returns its manifest. */
export async function captureSnapshot(
  ctx: CaptureContext,
  dir: string,
  opts: SnapshotOptions = {},
): Promise<SnapshotManifest> {
  opts.signal?.throwIfAborted();
  const startedAt = Date.now();
  // An overlay or job left by an earlier capture would make this one fail half-way.
  await recoverLeftovers(ctx, { resume: false });
  const status = await settledStatus(ctx.qmp);
  const written: string[] = [];
  let manifest: SnapshotManifest;
  let capture: Capture;
  try {
    if (status === 'running') {
      capture = await captureRunning(ctx, dir, opts, written);
    } else if (status === 'postmigrate') {
      capture = await reusePausedStream(ctx, dir, written);
      await copyDisks(ctx, dir, opts, written);
    } else if (status === 'paused' || status === 'prelaunch') {
      capture = await capturePaused(ctx, dir, opts, written);
      await copyDisks(ctx, dir, opts, written);
    } else {
      throw new QemuError('invalid_state', `cannot snapshot a guest in QEMU state ${status}`);
    }

    // Durable before declared done: the caller may publish the directory right after.
    const flushStarted = performance.now();
    await Promise.all(written.map(fsync));
    ctx.logger.debug({ ms: Math.round(performance.now() - flushStarted) }, 'snapshot flushed');
    manifest = await buildManifest(ctx, dir, capture, status, startedAt, opts);
    await writeManifest(dir, manifest);
    await fsync(dir);
  } catch (error) {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    throw error;
  }
  const summary = { method: capture.method, pauseMs: capture.pauseMs, totalMs: manifest.totalMs };
  if (capture.resumeError !== undefined) {
    ctx.logger.error(
      { ...summary, err: capture.resumeError },
      'guest left paused after a snapshot',
    );
    throw new ResumeAfterSnapshotError(manifest, { cause: capture.resumeError });
  }
  ctx.logger.info(summary, 'snapshot written');
  return manifest;
}

async function buildManifest(
  ctx: CaptureContext,
  dir: string,
  capture: Capture,
  status: string,
  startedAt: number,
  opts: SnapshotOptions,
): Promise<SnapshotManifest> {
  const files: SnapshotFile[] = [{ role: 'memory', path: MEMORY_FILE, bytes: capture.streamBytes }];
  if (opts.includeDisks !== false) {
    for (const disk of ctx.spec.disks) {
      const path = diskFileName(disk);
      files.push({ role: 'disk', path, bytes: await fileBytes(join(dir, path)), diskId: disk.id });
    }
  }
  const details: QemuSnapshotDetails = {
    machine: ctx.launch.machine,
    cpu: ctx.launch.cpu,
    accel: ctx.launch.accel,
    method: capture.method,
    streamBytes: capture.streamBytes,
  };
  return {
    version: 1,
    hypervisor: 'qemu',
    hypervisorVersion: ctx.qemuVersion,
    kind: 'memory',
    spec: { ...ctx.spec, machine: ctx.launch.machine },
    runstateAtSnapshot: status === 'running' ? 'running' : 'paused',
    files,
    createdAt: new Date(startedAt).toISOString(),
    pauseMs: capture.pauseMs,
    totalMs: Date.now() - startedAt,
    details,
  };
}

/** Flushes a file, or a directory's entries, to stable storage. */
async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
