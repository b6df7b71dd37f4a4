/**
 * Freezing a running guest's disks for a snapshot without keeping the guest paused for the copy.
 * `blockdev-snapshot-sync` (≈7 ms) puts a fresh overlay on top of each disk: from then on the
 * guest writes into the overlay and the instance's own file stays as it was at that instant, so
 * it can be copied after the guest resumes. `block-commit` then merges the overlay back into the
 * instance's file and drops it, so the live disk path and the chain depth are what they were.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { QmpClient } from '../qmp/client.js';
import type { DiskSpec } from '../types.js';

export interface Overlay {
  disk: DiskSpec;
  /** Node name of the overlay, the disk's active layer while it exists. */
  node: string;
  path: string;
}

/** The overlay `freezeDisk` puts on `disk`: its node name and file are fixed by the disk id. */
export function overlayFor(disk: DiskSpec, runDir: string): Overlay {
  return { disk, node: `${disk.id}-ovl`, path: join(runDir, `${disk.id}.overlay.qcow2`) };
}

/** Puts an overlay (in `runDir`) on top of `disk`; its file is frozen from this call on. */
export async function freezeDisk(qmp: QmpClient, disk: DiskSpec, runDir: string): Promise<Overlay> {
  const overlay = overlayFor(disk, runDir);
  // A leftover from a crashed capture would make QEMU refuse to create the file.
  await rm(overlay.path, { force: true });
  await qmp.execute('blockdev-snapshot-sync', {
    'node-name': disk.id,
    // Absolute: QEMU records this path in the overlay, and relative ones resolve elsewhere later.
    'snapshot-file': overlay.path,
    'snapshot-node-name': overlay.node,
    format: 'qcow2',
  });
  return overlay;
}

/**
 * Merges `overlay` back into its disk's file and removes it. The base is named explicitly so
 * the commit lands in the instance's file, never in some deeper backing image.
 */
export async function commitOverlay(
  qmp: QmpClient,
  overlay: Overlay,
  logger: Logger,
): Promise<void> {
  const jobId = `commit-${overlay.disk.id}`;
  const since = qmp.mark();
  const isJob = (e: { data?: Record<string, unknown> }) => e.data?.device === jobId;
  await qmp.execute('block-commit', {
    'job-id': jobId,
    device: overlay.node,
    'top-node': overlay.node,
    'base-node': overlay.disk.id,
  });
  // Committing the active layer is a mirror: it reports READY once in sync, then must be told
  // to pivot; the guest keeps writing meanwhile.
  const ready = await Promise.race([
    qmp.waitForEvent('BLOCK_JOB_READY', { since, match: isJob, timeoutMs: 120_000 }),
    qmp.waitForEvent('BLOCK_JOB_COMPLETED', { since, match: isJob, timeoutMs: 120_000 }),
  ]);
  if (ready.event === 'BLOCK_JOB_READY') {
    await qmp.execute('job-complete', { id: jobId });
  }
  const done = await qmp.waitForEvent('BLOCK_JOB_COMPLETED', {
    since,
    match: isJob,
    timeoutMs: 120_000,
  });
  if (done.data?.error) throw new Error(`block-commit of ${overlay.disk.id}: ${done.data.error}`);
  await rm(overlay.path, { force: true });
  logger.debug({ disk: overlay.disk.id }, 'overlay committed');
}
