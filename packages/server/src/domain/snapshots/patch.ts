/**
 * Changing what a user may change on a snapshot (`PATCH /snapshots/{sid}`): `pinned` (retention
 * never deletes a pinned snapshot) and the user's tags. Tags the server wrote (`hypeman.*`,
 * `vmkeep.*`) are kept as they are whatever the request says.
 */
import type { SnapshotRecord } from '../../store/snapshots-repo.js';
import { InvalidRequestError } from '../errors.js';
import type { DomainContext } from '../instances/context.js';
import { validateTags } from '../instances/validation.js';
import { isReservedTag, TAG_LIMITS } from '../tags.js';
import { requireSnapshot, snapshotKey } from './lookup.js';

/** The body of `PATCH /snapshots/{sid}`. */
export interface PatchSnapshotInput {
  pinned?: boolean;
  /** Replaces the user's tags. */
  tags?: Record<string, string>;
}

/** Applies a patch; see the module doc. */
export async function patchSnapshot(
  ctx: DomainContext,
  snapshotId: string,
  input: PatchSnapshotInput,
): Promise<SnapshotRecord> {
  if (input.pinned !== undefined && typeof input.pinned !== 'boolean') {
    throw new InvalidRequestError('pinned must be true or false');
  }
  const userTags = input.tags === undefined ? undefined : validateTags('tags', input.tags);
  return ctx.locks.run(snapshotKey(snapshotId), async () => {
    const snapshot = requireSnapshot(ctx, snapshotId);
    const patch: Parameters<typeof ctx.repos.snapshots.update>[1] = {};
    if (input.pinned !== undefined) patch.pinned = input.pinned;
    if (userTags) {
      const serverTags = Object.entries(snapshot.tags).filter(([key]) => isReservedTag(key));
      const room = TAG_LIMITS.maxEntries - serverTags.length;
      if (Object.keys(userTags).length > room) {
        throw new InvalidRequestError(
          `tags has ${Object.keys(userTags).length} entries, but snapshot ${snapshotId} keeps ` +
            `${serverTags.length} server tags, so at most ${room} of yours fit the limit of ` +
            `${TAG_LIMITS.maxEntries}`,
        );
      }
      patch.tags = { ...userTags, ...Object.fromEntries(serverTags) };
    }
    return ctx.repos.snapshots.update(snapshotId, patch)!;
  });
}
