/**
 * Capturing a paused guest without running it. A plain `migrate` leaves QEMU 7.2 in
 * `postmigrate`, from which it refuses any further migration ("Can't migrate the vm that was
 * paused due to previous migration") until the guest runs again; and nothing short of `cont`
 * leaves that state. Since a guest that has not run since cannot have changed, the stream is kept
 * in the run dir (a hard link, so no extra space) and reused for the next capture; the first
 * RESUME (or the process exit) drops it.
 */
import { copyFile, link, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotOptions } from '../types.js';
import {
  type Capture,
  type CaptureContext,
  migrationTimeoutMs,
  requireCompleted,
} from './capture.js';
import { QemuError } from './errors.js';
import { execWriteUri } from './exec-uri.js';
import { MEMORY_FILE } from './manifest.js';
import {
  cancelMigration,
  fileBytes,
  type MigrationOutcome,
  setBackgroundSnapshot,
  settledStatus,
  waitForHelpers,
  waitForMigration,
} from './migration.js';

/** The run-dir file holding the last stream of a guest that has stayed paused since. */
export const PAUSED_STREAM_FILE = 'paused-memory.bin';

/** Plain migrate of a paused guest: it stays paused, and nothing writes to its disks. */
export async function capturePaused(
  ctx: CaptureContext,
  dir: string,
  opts: SnapshotOptions,
  written: string[],
): Promise<Capture> {
  const { qmp } = ctx;
  const memory = join(dir, MEMORY_FILE);
  // background-snapshot would resume the guest as soon as it starts writing RAM.
  await setBackgroundSnapshot(qmp, false);
  const since = qmp.mark();
  written.push(memory);
  await qmp.execute('migrate', { uri: execWriteUri(memory) });
  let outcome: MigrationOutcome;
  try {
    outcome = await waitForMigration(qmp, {
      since,
      timeoutMs: migrationTimeoutMs(ctx.spec),
      signal: opts.signal,
    });
  } catch (error) {
    await cancelMigration(qmp, since).catch((e) => ctx.logger.warn({ err: e }, 'cancel failed'));
    await waitForHelpers(ctx.pid, 30_000).catch(() => {});
    throw error;
  }
  requireCompleted(outcome);
  await settledStatus(qmp);
  await waitForHelpers(ctx.pid, 30_000);

  const kept = join(ctx.runDir, PAUSED_STREAM_FILE);
  await rm(kept, { force: true });
  await linkOrCopy(memory, kept);
  return { method: 'paused', pauseMs: 0, streamBytes: await fileBytes(memory) };
}

/** The guest has not run since its last paused capture: that stream is still exact. */
export async function reusePausedStream(
  ctx: CaptureContext,
  dir: string,
  written: string[],
): Promise<Capture> {
  const memory = join(dir, MEMORY_FILE);
  written.push(memory);
  try {
    await linkOrCopy(join(ctx.runDir, PAUSED_STREAM_FILE), memory);
  } catch {
    // Lost when a server restart re-attached to a guest left in `postmigrate`.
    throw new QemuError(
      'invalid_state',
      'QEMU cannot snapshot this guest again until it has run since its last snapshot; resume it first',
    );
  }
  return { method: 'paused', pauseMs: 0, streamBytes: await fileBytes(memory) };
}

/** Forgets the kept stream once the guest runs again (or exits). */
export async function dropPausedStream(runDir: string): Promise<void> {
  await unlink(join(runDir, PAUSED_STREAM_FILE)).catch(() => {});
}

async function linkOrCopy(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(src, dest);
  }
}
