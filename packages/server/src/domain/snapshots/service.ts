/**
 * The snapshots' public face: what routes, the scheduler and retention call. Each method is one
 * verb in its own file; this class binds them to the shared {@link DomainContext}.
 */
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { Page, PageRequest } from '../../store/list-query.js';
import type { SnapshotRecord } from '../../store/snapshots-repo.js';
import type { DomainContext } from '../instances/context.js';
import type { VerbOptions } from '../instances/resolve.js';
import { type CreateSnapshotInput, type CreateSnapshotOptions, createSnapshot } from './create.js';
import { type DeleteSnapshotOptions, deleteSnapshot } from './delete.js';
import { type ForkSnapshotInput, forkSnapshot } from './fork.js';
import { listSnapshots, type SnapshotListQuery } from './list.js';
import { requireSnapshot } from './lookup.js';
import { type PatchSnapshotInput, patchSnapshot } from './patch.js';
import { type RestoreSnapshotInput, restoreSnapshot } from './restore.js';
import { type Snapshot, type SnapshotExpiry, toSnapshot } from './view.js';

/** Snapshots: create, read, list, delete, restore, fork, patch. */
export class SnapshotService {
  /** `expiry` fills `expires_at`; without it every snapshot has none. */
  constructor(
    private readonly ctx: DomainContext,
    private readonly expiry?: SnapshotExpiry,
  ) {}

  /**
   * Snapshots an instance (id, name or id prefix). Routes pass `{ lock: 'fail' }` so a busy
   * instance is a 409 rather than a wait; the scheduler passes its provenance.
   */
  create(
    instanceRef: string,
    input: CreateSnapshotInput = {},
    opts?: CreateSnapshotOptions,
  ): Promise<SnapshotRecord> {
    return createSnapshot(this.ctx, instanceRef, input, opts);
  }

  get(snapshotId: string): SnapshotRecord {
    return requireSnapshot(this.ctx, snapshotId);
  }

  list(query?: SnapshotListQuery, page?: PageRequest): Page<SnapshotRecord> {
    return listSnapshots(this.ctx, query, page);
  }

  /** Snapshots this instance's schedule took, any status, newest first (retention's input). */
  listScheduled(instanceId: string): SnapshotRecord[] {
    return this.ctx.repos.snapshots.listScheduled(instanceId);
  }

  /** Deletes a snapshot; `false` if `keepPinned` found it pinned and kept it. */
  delete(snapshotId: string, opts?: DeleteSnapshotOptions): Promise<boolean> {
    return deleteSnapshot(this.ctx, snapshotId, opts);
  }

  restore(
    instanceRef: string,
    snapshotId: string,
    input?: RestoreSnapshotInput,
    opts?: VerbOptions,
  ): Promise<InstanceRecord> {
    return restoreSnapshot(this.ctx, instanceRef, snapshotId, input, opts);
  }

  fork(snapshotId: string, input: ForkSnapshotInput): Promise<InstanceRecord> {
    return forkSnapshot(this.ctx, snapshotId, input);
  }

  patch(snapshotId: string, input: PatchSnapshotInput): Promise<SnapshotRecord> {
    return patchSnapshot(this.ctx, snapshotId, input);
  }

  view(record: SnapshotRecord): Snapshot {
    return toSnapshot(record, this.expiry);
  }
}
