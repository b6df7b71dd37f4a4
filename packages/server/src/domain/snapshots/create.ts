/**
 * Taking a snapshot of an instance (`POST /instances/{id}/snapshots`, and every scheduled run).
 *
 * Steps, all under the instance's lock so no other operation interleaves with the capture:
 * 1. insert the record as `creating`;
 * 2. capture into `snapshots/.tmp-<id>/`;
 * 3. rename it to `snapshots/<id>/` — the payload is complete the moment it has its name;
 * 4. mark the record `ready` with its size and the guest's downtime.
 *
 * On any failure the guest is back in its state (the driver guarantees it; we check), the
 * partial directory is removed and the record is deleted: a failed capture leaves nothing a
 * client could mistake for a usable snapshot, and the error goes back to the caller. A crash
 * mid-way leaves a `creating` record and a `.tmp-` dir, which reconcile removes at start.
 */
import { mkdir } from 'node:fs/promises';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { SnapshotRecord } from '../../store/snapshots-repo.js';
import { AlreadyExistsError, InvalidRequestError, InvalidStateError } from '../errors.js';
import { HypervisorFailureError } from '../hypervisor-errors.js';
import { newId } from '../ids.js';
import type { DomainContext } from '../instances/context.js';
import { dirSize } from '../instances/files.js';
import { requireFeature } from '../instances/hypervisors.js';
import { withInstance } from '../instances/resolve.js';
import { markResumePending, resumeIfPending } from '../instances/resume-retry.js';
import {
  assertSnapshotSource,
  defaultSnapshotKind,
  SNAPSHOT_KINDS,
  type SnapshotKind,
} from '../instances/state.js';
import { validateName, validateTags } from '../instances/validation.js';
import { SCHEDULE_INSTANCE_TAG, SCHEDULED_TAG } from '../tags.js';
import { type Capture, capture } from './capture.js';

/** The body of `POST /instances/{id}/snapshots`. */
export interface CreateSnapshotInput {
  /** Omitted: chosen from the state (Running, Paused, Standby → Standby; Stopped → Stopped). */
  kind?: string;
  /** Unique per source instance; omitted leaves it null, as hypeman does. */
  name?: string | null;
  tags?: Record<string, string>;
}

/** Server-side provenance of a scheduled snapshot; no client input can set it. */
export interface SnapshotProvenance {
  scheduleInstanceId: string;
  scheduleRunId: string;
}

/** What only the server (routes, the scheduler) may pass. */
export interface CreateSnapshotOptions {
  /** Marks a scheduled capture; never set from client input. */
  provenance?: SnapshotProvenance;
  /** Cancels waiting for the lock and the capture itself (partial files are removed). */
  signal?: AbortSignal;
  /** `fail`: 409 `conflict` at once if another operation holds the instance. Default `wait`. */
  lock?: 'wait' | 'fail';
}

/** Takes a snapshot of an instance; see the module doc for the steps. */
export async function createSnapshot(
  ctx: DomainContext,
  instanceRef: string,
  input: CreateSnapshotInput,
  opts: CreateSnapshotOptions = {},
): Promise<SnapshotRecord> {
  const requestedKind = validateKind(input.kind);
  const name =
    input.name === undefined || input.name === null ? null : validateName('name', input.name);
  // The provenance tags are written here, and only here, from the server-side provenance.
  const tags = validateTags('tags', input.tags);
  if (opts.provenance) {
    tags[SCHEDULED_TAG] = 'true';
    tags[SCHEDULE_INSTANCE_TAG] = opts.provenance.scheduleInstanceId;
  }
  const lockOpts = { wait: opts.lock !== 'fail', signal: opts.signal };

  return withInstance(ctx, instanceRef, 'snapshot', lockOpts, async (locked) => {
    // A guest stuck paused by a failed resume is resumed before anything pauses it again.
    const instance = await resumeIfPending(ctx, locked);
    const kind = requestedKind ?? defaultSnapshotKind(instance.state);
    if (!kind) {
      throw new InvalidStateError(
        `cannot snapshot instance ${instance.name} in state ${instance.state}`,
      );
    }
    assertSnapshotSource(kind, instance.state);
    // Only a live guest needs its hypervisor; Standby and Stopped captures copy files.
    if (instance.state === 'Running' || instance.state === 'Paused') {
      await requireFeature(ctx, instance.hypervisor, 'snapshots', 'snapshot a running guest');
    }
    if (name !== null && ctx.repos.snapshots.getByName(instance.id, name)) {
      throw new AlreadyExistsError(
        `instance ${instance.name} already has a snapshot named ${name}`,
      );
    }

    // 1. The record first, so the name is taken and the capture is visible as `creating`.
    const id = newId();
    const log = ctx.logger.child({ instanceId: instance.id, snapshotId: id, kind });
    insertCreating(ctx, instance, { id, kind, name, tags, provenance: opts.provenance });

    // 2–3. Capture under a temporary name; the rename publishes the complete payload.
    const tmp = ctx.paths.snapshotTmp(id);
    let result: Capture;
    try {
      await mkdir(tmp, { recursive: true });
      result = await capture(ctx, instance, tmp, opts.signal);
      await ctx.fs.rename(tmp, ctx.paths.snapshot(id));
    } catch (err) {
      log.error({ err }, 'snapshot failed');
      await ctx.fs.removeDir(tmp).catch((rmErr: unknown) => {
        log.warn({ err: rmErr, path: tmp }, 'could not remove a partial snapshot; reconcile will');
      });
      ctx.repos.snapshots.delete(id);
      await checkGuestAfterFailure(ctx, instance);
      // A scheduled run keeps the hypervisor's own words for the schedule's `last_error`
      // ("capture failed: <reason>"); the mapped error, with its advice, is for API clients.
      throw opts.provenance && err instanceof HypervisorFailureError ? err.cause : err;
    }

    // 4. Ready. A failed resume after a complete capture keeps the snapshot (BB-26 B).
    const ready = ctx.repos.snapshots.update(id, {
      status: 'ready',
      sizeBytes: await dirSize(ctx.paths.snapshot(id)),
      downtimeMs: result.manifest.pauseMs,
      createdAt: ctx.clock.now(),
    })!;
    if (result.resumeError) markResumePending(ctx, instance, result.resumeError.cause);
    log.info({ sizeBytes: ready.sizeBytes, downtimeMs: ready.downtimeMs }, 'snapshot ready');
    ctx.events.emit({
      type: 'snapshot.created',
      snapshotId: id,
      sourceInstanceId: instance.id,
      at: ctx.clock.now(),
    });
    return ready;
  });
}

function validateKind(kind: string | undefined): SnapshotKind | undefined {
  if (kind === undefined) return undefined;
  const known = SNAPSHOT_KINDS.find((k) => k === kind);
  if (!known) {
    throw new InvalidRequestError(
      `kind "${kind}" is not valid; use ${SNAPSHOT_KINDS.join(' or ')}`,
    );
  }
  return known;
}

function insertCreating(
  ctx: DomainContext,
  instance: InstanceRecord,
  s: {
    id: string;
    kind: SnapshotKind;
    name: string | null;
    tags: Record<string, string>;
    provenance?: SnapshotProvenance;
  },
): void {
  try {
    ctx.repos.snapshots.insert({
      id: s.id,
      name: s.name,
      kind: s.kind,
      status: 'creating',
      error: null,
      tags: s.tags,
      pinned: false,
      sourceInstanceId: instance.id,
      sourceInstanceName: instance.name,
      sourceHypervisor: instance.hypervisor,
      scheduleInstanceId: s.provenance?.scheduleInstanceId ?? null,
      scheduleRunId: s.provenance?.scheduleRunId ?? null,
      sizeBytes: 0,
      downtimeMs: null,
      createdAt: ctx.clock.now(),
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new AlreadyExistsError(
        `instance ${instance.name} already has a snapshot named ${s.name}`,
      );
    }
    throw err;
  }
}

/**
 * The driver returns a guest to its state when a capture fails; if it could not (the resume
 * failed too), the instance is reported Paused and the resume is retried.
 */
async function checkGuestAfterFailure(ctx: DomainContext, instance: InstanceRecord): Promise<void> {
  if (instance.state !== 'Running') return;
  const vm = ctx.runtime.get(instance.id);
  const power = await vm?.status().catch(() => undefined);
  if (power === 'paused') {
    markResumePending(ctx, instance, new Error('the guest stayed paused after a failed snapshot'));
  }
}
