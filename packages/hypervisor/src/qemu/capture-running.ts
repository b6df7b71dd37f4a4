/**
 * Capturing a running guest with the least downtime QEMU 7.2 offers.
 *
 * `background-snapshot` pauses the guest only while device state is saved (~15-30 ms here) and
 * writes RAM afterwards, write-protecting pages with userfaultfd so the file still shows the
 * instant of the pause. Its weak spot, measured on the project's machines: a background migration
 * that is cancelled or fails (its writer dies, the disk fills) wedges QEMU under TCG, QMP stops
 * answering and the guest stays frozen. So it is used only when the target has room for all of
 * RAM, and an abort waits for it to finish (bounded by RAM size) instead of cancelling it. When
 * QEMU rejects the capability, or `stop-copy` is configured, the guest stays paused for the whole
 * memory write (~120-300 ms) and an abort cancels the write.
 *
 * Disks are frozen with an overlay at the same instant, copied after the guest resumes, and the
 * overlay merged back, so the copy never extends the pause (see `block.ts`).
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { QmpClient } from '../qmp/client.js';
import { eventTimeMs } from '../qmp/types.js';
import type { SnapshotOptions, VmSpec } from '../types.js';
import { commitOverlay, freezeDisk, type Overlay } from './block.js';
import {
  type Capture,
  type CaptureContext,
  copyDisks,
  migrationTimeoutMs,
  requireCompleted,
  stepTimer,
} from './capture.js';
import { QemuError } from './errors.js';
import { execWriteUri } from './exec-uri.js';
import { type CaptureMethod, MEMORY_FILE } from './manifest.js';
import {
  cancelMigration,
  fileBytes,
  setBackgroundSnapshot,
  settledStatus,
  waitForHelpers,
  waitForMigration,
} from './migration.js';

/**
 * 1. stop; 2. overlay every writable disk (its file freezes); 3. migrate: in background mode
 * QEMU resumes the guest by itself once device state is saved, in stop-copy mode we resume it
 * after the write; 4. copy the frozen files while the guest runs; 5. merge the overlays back,
 * also when anything failed. A failed resume in step 3 is reported in `resumeError` once the
 * rest is done, not thrown: the snapshot is complete.
 */
export async function captureRunning(
  ctx: CaptureContext,
  dir: string,
  opts: SnapshotOptions,
  written: string[],
): Promise<Capture> {
  const { qmp } = ctx;
  const memory = join(dir, MEMORY_FILE);
  const method = await chooseMethod(ctx, dir);
  const overlays: Overlay[] = [];
  const since = qmp.mark();
  const step = stepTimer(ctx.logger);
  let migrating = false;
  let capture: Capture;
  try {
    await qmp.execute('stop');
    if (opts.includeDisks !== false) {
      for (const disk of ctx.spec.disks.filter((d) => !d.readonly)) {
        overlays.push(await freezeDisk(qmp, disk, ctx.runDir));
      }
    }
    step('stopped, disks frozen');

    written.push(memory);
    await qmp.execute('migrate', { uri: execWriteUri(memory) });
    migrating = true;
    const outcome = await waitForMigration(qmp, {
      since,
      timeoutMs: migrationTimeoutMs(ctx.spec),
      // A background migration must not be cancelled (module doc): an abort waits for it.
      signal: method === 'stop-copy' ? opts.signal : undefined,
    });
    migrating = false;
    requireCompleted(outcome);
    let resumeError: unknown;
    if (method === 'stop-copy') {
      await settledStatus(qmp);
      // Memory is written and the disks are frozen: a guest that will not run again must not
      // cost the snapshot, so the failure is carried to the end instead of thrown.
      resumeError = await qmp.execute('cont').then(
        () => undefined,
        (error: unknown) => error ?? new Error('cont failed'),
      );
    }
    const pauseMs =
      resumeError === undefined ? await pausedFor(qmp, since) : await stoppedFor(qmp, since);
    await waitForHelpers(ctx.pid, 30_000);
    step('memory written');

    opts.signal?.throwIfAborted();
    await copyDisks(ctx, dir, opts, written);
    step('disks copied');
    capture = { method, pauseMs, streamBytes: await fileBytes(memory), resumeError };
  } catch (error) {
    await undo(ctx, { since, migrating, method, overlays });
    throw error;
  }
  try {
    await mergeOverlays(ctx, overlays);
    step('overlays merged');
  } catch (error) {
    // A guest stopped after a migration keeps its disks inactive until it runs again, so the
    // merge fails too; the snapshot is complete, and the next capture merges (`recover.ts`).
    if (capture.resumeError === undefined) throw error;
    ctx.logger.warn({ err: error }, 'overlays stay until the guest runs again');
  }
  return capture;
}

async function chooseMethod(ctx: CaptureContext, dir: string): Promise<CaptureMethod> {
  const wanted = ctx.method === 'auto' && (await hasRoomForRam(dir, ctx.spec));
  if (wanted && (await setBackgroundSnapshot(ctx.qmp, true))) return 'background-snapshot';
  await setBackgroundSnapshot(ctx.qmp, false);
  return 'stop-copy';
}

/**
 * After a failure: let the migration end (wait for a background one, cancel a stop-copy one),
 * run the guest again, merge the overlays. An unresponsive QEMU is reported instead of the
 * original error, since it is what the caller must act on; other cleanup failures are logged.
 */
async function undo(
  ctx: CaptureContext,
  state: { since: number; migrating: boolean; method: CaptureMethod; overlays: Overlay[] },
): Promise<void> {
  const { qmp, logger } = ctx;
  if (state.migrating) {
    const settle =
      state.method === 'background-snapshot'
        ? waitForMigration(qmp, { since: state.since, timeoutMs: migrationTimeoutMs(ctx.spec) })
        : cancelMigration(qmp, state.since);
    await settle.catch((e) => logger.warn({ err: e }, 'migration did not settle'));
  }
  let status: string;
  try {
    status = await settledStatus(qmp);
  } catch (error) {
    throw new QemuError('unresponsive', 'QEMU stopped answering after a failed snapshot', '', {
      cause: error,
    });
  }
  if (status !== 'running') {
    await qmp.execute('cont').catch((e) => logger.error({ err: e }, 'could not resume the guest'));
  }
  await waitForHelpers(ctx.pid, 30_000).catch(() => {});
  await mergeOverlays(ctx, state.overlays).catch((e) => logger.error({ err: e }, 'merge failed'));
}

/** Merges every overlay back, even when one fails, then reports the first failure. */
async function mergeOverlays(ctx: CaptureContext, overlays: Overlay[]): Promise<void> {
  const failures: unknown[] = [];
  for (const overlay of overlays) {
    await commitOverlay(ctx.qmp, overlay, ctx.logger).catch((e) => failures.push(e));
  }
  if (failures.length > 0) {
    const paths = overlays.map((o) => o.path).join(', ');
    throw new QemuError(
      'snapshot_failed',
      `merging the snapshot overlay back failed; the guest still writes to ${paths}`,
      '',
      { cause: failures[0] },
    );
  }
}

/** STOP → RESUME from QEMU's own event timestamps: the downtime the guest saw. */
async function pausedFor(qmp: QmpClient, since: number): Promise<number> {
  const stop = await qmp.waitForEvent('STOP', { since, timeoutMs: 5000 });
  const resume = await qmp.waitForEvent('RESUME', { since, timeoutMs: 5000 });
  return Math.max(0, Math.round(eventTimeMs(resume) - eventTimeMs(stop)));
}

/** STOP until now, for a guest that did not resume: the downtime so far. */
async function stoppedFor(qmp: QmpClient, since: number): Promise<number> {
  const stop = await qmp.waitForEvent('STOP', { since, timeoutMs: 5000 });
  return Math.max(0, Math.round(Date.now() - eventTimeMs(stop)));
}

/** Room for the largest stream a background migration can write: all of RAM + device state. */
async function hasRoomForRam(dir: string, spec: VmSpec): Promise<boolean> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize >= (spec.memoryMiB + 64) * 1024 * 1024;
}
