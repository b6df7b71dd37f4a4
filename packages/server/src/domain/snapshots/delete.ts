/**
 * Deleting a snapshot: payload first, then record, so the index never lists a snapshot without
 * its payload and no payload outlives its record.
 *
 * 1. Hide the payload by renaming it to `.del-<id>` (atomic: the snapshot is whole or hidden).
 * 2. Remove the hidden tree. If that fails, it is renamed back, the record stays and the error
 *    is returned; a later delete tries again.
 * 3. Drop the record.
 *
 * A crash after 1 or 2 leaves a `.del-` dir (and perhaps the record); reconcile finishes the
 * deletion at start. Deleting a snapshot never touches its source instance or its forks.
 */

import { ConflictError } from '../errors.js';
import type { DomainContext } from '../instances/context.js';
import { requireSnapshot, snapshotKey } from './lookup.js';

export interface DeleteSnapshotOptions {
  /**
   * Keep the snapshot if it is pinned when the lock is held (retention's deletes): a pin that
   * landed after retention made its plan must still win, and the pin's PATCH holds the same
   * lock, so the check cannot miss it.
   */
  keepPinned?: boolean;
}

/**
 * Deletes a snapshot; see the module doc for the order. Returns `false` when `keepPinned` kept
 * a pinned one, `true` once it is gone.
 */
export async function deleteSnapshot(
  ctx: DomainContext,
  snapshotId: string,
  opts: DeleteSnapshotOptions = {},
): Promise<boolean> {
  return ctx.locks.run(
    snapshotKey(snapshotId),
    async () => {
      const snapshot = requireSnapshot(ctx, snapshotId);
      if (opts.keepPinned && snapshot.pinned) return false;
      if (snapshot.status === 'creating') {
        throw new ConflictError(
          `snapshot ${snapshotId} is still being created; delete it once it is ready`,
        );
      }
      const log = ctx.logger.child({ snapshotId, instanceId: snapshot.sourceInstanceId });
      const payload = ctx.paths.snapshot(snapshotId);
      const trash = ctx.paths.snapshotTrash(snapshotId);

      let hidden = true;
      await ctx.fs.rename(payload, trash).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        hidden = false;
        log.warn({}, 'snapshot payload was already missing; removing its record');
      });
      if (hidden) {
        try {
          await ctx.fs.removeDir(trash);
        } catch (err) {
          await ctx.fs.rename(trash, payload).catch((undoErr: unknown) => {
            log.error(
              { err: undoErr },
              'could not put back a snapshot payload after a failed delete',
            );
          });
          throw err;
        }
      }
      ctx.repos.snapshots.delete(snapshotId);
      log.info({}, 'snapshot deleted');
      ctx.events.emit({
        type: 'snapshot.deleted',
        snapshotId,
        sourceInstanceId: snapshot.sourceInstanceId,
        at: ctx.clock.now(),
      });
      return true;
    },
    { operation: 'delete', subject: `snapshot ${snapshotId}` },
  );
}
