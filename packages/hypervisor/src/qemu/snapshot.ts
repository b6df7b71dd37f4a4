/**
 * Capturing a QEMU guest into a snapshot directory: the migration stream (RAM + device state) in
 * `memory.bin`, a flattened copy of each disk, and `manifest.json`. The guest is left as found:
 * a running guest is captured by `capture-running.ts`, a paused one by `capture-paused.ts`.
 * On any failure the files written so far are removed.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotFile, SnapshotManifest, SnapshotOptions } from '../types.js';
import { type Capture, type CaptureContext, copyDisks } from './capture.js';
import { capturePaused, reusePausedStream } from './capture-paused.js';
import { captureRunning } from './capture-running.js';
import { QemuError } from './errors.js';
import { diskFileName, MEMORY_FILE, type QemuSnapshotDetails, writeManifest } from './manifest.js';
import { fileBytes, settledStatus } from './migration.js';

/** Writes a snapshot of the guest into `dir` (existing, empty) and returns its manifest. */
export async function captureSnapshot(
  ctx: CaptureContext,
  dir: string,
  opts: SnapshotOptions = {},
): Promise<SnapshotManifest> {
  opts.signal?.throwIfAborted();
  const startedAt = Date.now();
  const status = await settledStatus(ctx.qmp);
  const written: string[] = [];
  try {
    let capture: Capture;
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
    const manifest = await buildManifest(ctx, dir, capture, status, startedAt, opts);
    await writeManifest(dir, manifest);
    await fsync(dir);
    ctx.logger.info(
      { method: capture.method, pauseMs: capture.pauseMs, totalMs: manifest.totalMs },
      'snapshot written',
    );
    return manifest;
  } catch (error) {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    throw error;
  }
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
