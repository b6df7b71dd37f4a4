/** Finding snapshots by id, and the lock that keeps a payload still while it is read. */
import type { SnapshotRecord } from '../../store/snapshots-repo.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { DomainContext } from '../instances/context.js';

/** The lock key of a snapshot's payload. */
export function snapshotKey(id: string): string {
  return `snapshot:${id}`;
}

/** The snapshot with this id, whatever its status; 404 if none. */
export function requireSnapshot(ctx: DomainContext, id: string): SnapshotRecord {
  const snapshot = ctx.repos.snapshots.get(id);
  if (!snapshot) throw new NotFoundError(`snapshot ${id} not found`);
  return snapshot;
}

/** A snapshot whose payload is complete; 409 while it is still being written. */
export function requireReady(ctx: DomainContext, id: string): SnapshotRecord {
  const snapshot = requireSnapshot(ctx, id);
  if (snapshot.status !== 'ready') {
    throw new ConflictError(
      `snapshot ${id} is ${snapshot.status}; it can be used once it is ready`,
    );
  }
  return snapshot;
}
