/**
 * In-memory fakes of the ports the schedule code uses (domain/schedules/ports.ts), with an
 * ordered call log on the fake clock and fault injection per instance, per call number, per
 * snapshot. They behave like the real snapshot domain where schedules can tell: the kind comes
 * from the state (a paused guest is captured as Standby and left paused), names are unique
 * per source instance, a missing snapshot is `not_found`, an abort ends a capture.
 */

import { toRfc3339 } from '../../src/domain/clock.js';
import { AlreadyExistsError, InvalidStateError, NotFoundError } from '../../src/domain/errors.js';
import { newId } from '../../src/domain/ids.js';
import type {
  CaptureProvenance,
  InstancePort,
  InstanceSummary,
  ScheduledSnapshot,
  SnapshotPort,
} from '../../src/domain/schedules/ports.js';
import { SCHEDULE_INSTANCE_TAG, SCHEDULED_TAG } from '../../src/domain/tags.js';
import type { FakeClock } from './fake-clock.js';

export class FakeInstances implements InstancePort {
  readonly byId = new Map<string, InstanceSummary>();

  add(id: string, state = 'Running'): void {
    this.byId.set(id, { id, name: id.replace(/_/g, '-').toLowerCase(), state });
  }

  setState(id: string, state: string): void {
    const instance = this.byId.get(id);
    if (!instance) throw new Error(`no instance ${id}`);
    instance.state = state;
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  find(instanceId: string): InstanceSummary | undefined {
    const instance = this.byId.get(instanceId);
    return instance ? { ...instance } : undefined;
  }
}

export interface FakeSnapshot extends ScheduledSnapshot {
  kind: 'Standby' | 'Stopped';
  tags: Record<string, string>;
  source_instance_id: string;
  scheduleRunId: string | null;
}

/** What a faulty call does: throw, take time on the fake clock, or never finish until aborted. */
export type Fault =
  | { fail: Error }
  | { delayMs: number; then?: 'succeed' | Error }
  | { hang: true };

export interface LogEntry {
  at: number;
  op: 'capture' | 'capture-done' | 'capture-failed' | 'delete' | 'delete-failed';
  instanceId: string;
  snapshotId?: string;
  name?: string;
  /** For deletes: whose schedule's provenance the snapshot had. */
  provenance?: string | null;
  error?: string;
}

export class FakeSnapshots implements SnapshotPort {
  readonly snapshots = new Map<string, FakeSnapshot>();
  readonly log: LogEntry[] = [];
  private readonly captureCalls = new Map<string, number>();
  /** instance → call number (1-based) or 'every' → fault. */
  private readonly captureFaults = new Map<string, Map<number | 'every', Fault>>();
  private readonly deleteFaults = new Map<string, Error[]>();

  constructor(
    private readonly clock: FakeClock,
    private readonly instances: FakeInstances,
  ) {}

  /** Makes capture call number `call` (1-based, per instance), or every call, misbehave. */
  failCapture(instanceId: string, fault: Fault, call: number | 'every' = 'every'): void {
    const faults = this.captureFaults.get(instanceId) ?? new Map();
    faults.set(call, fault);
    this.captureFaults.set(instanceId, faults);
  }

  /** The number of capture calls made so far for `instanceId`. */
  captureCount(instanceId: string): number {
    return this.captureCalls.get(instanceId) ?? 0;
  }

  clearCaptureFaults(instanceId: string): void {
    this.captureFaults.delete(instanceId);
  }

  /** The next `times` deletes of `snapshotId` fail with `error` (the payload stays intact). */
  failDelete(snapshotId: string, error: Error, times = 1): void {
    this.deleteFaults.set(
      snapshotId,
      Array.from({ length: times }, () => error),
    );
  }

  async capture(
    instanceId: string,
    req: { name: string; tags: Record<string, string> },
    opts: { provenance: CaptureProvenance; signal: AbortSignal },
  ): Promise<{ id: string; created_at: string }> {
    const call = (this.captureCalls.get(instanceId) ?? 0) + 1;
    this.captureCalls.set(instanceId, call);
    this.log.push({ at: this.clock.now(), op: 'capture', instanceId, name: req.name });
    try {
      const kind = this.kindFor(instanceId);
      this.requireFreeName(instanceId, req.name);
      const faults = this.captureFaults.get(instanceId);
      const fault = faults?.get(call) ?? faults?.get('every');
      if (fault) await this.misbehave(fault, opts.signal);
      if (opts.signal.aborted) throw opts.signal.reason;
      // Checked again after any delay: a user may have taken the name meanwhile.
      this.requireFreeName(instanceId, req.name);
      const snapshot = this.store({
        instanceId,
        name: req.name,
        tags: {
          ...req.tags,
          [SCHEDULED_TAG]: 'true',
          [SCHEDULE_INSTANCE_TAG]: opts.provenance.scheduleInstanceId,
        },
        kind,
        schedule: { instance_id: opts.provenance.scheduleInstanceId },
        scheduleRunId: opts.provenance.scheduleRunId,
      });
      this.log.push({
        at: this.clock.now(),
        op: 'capture-done',
        instanceId,
        snapshotId: snapshot.id,
      });
      return { id: snapshot.id, created_at: snapshot.created_at };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.push({ at: this.clock.now(), op: 'capture-failed', instanceId, error: message });
      throw error;
    }
  }

  /**
   * Deliberately loose: lists the instance's scheduled snapshots and also its manual ones (as
   * hypeman lists by source before filtering by tags), so the tests prove the schedule code's
   * own provenance check is what keeps manual snapshots safe.
   */
  listScheduled(instanceId: string): ScheduledSnapshot[] {
    return [...this.snapshots.values()]
      .filter((s) => s.schedule?.instance_id === instanceId || s.source_instance_id === instanceId)
      .map(({ id, name, created_at, status, pinned, schedule }) => ({
        id,
        name,
        created_at,
        status,
        pinned,
        schedule,
      }));
  }

  /** Retention's delete: a snapshot pinned by now is kept (`false`), as the domain does. */
  async deleteUnlessPinned(snapshotId: string): Promise<boolean> {
    if (this.snapshots.get(snapshotId)?.pinned) return false;
    await this.delete(snapshotId);
    return true;
  }

  /** A user's delete (and retention's, once the pin check passed). */
  async delete(snapshotId: string): Promise<void> {
    const snapshot = this.snapshots.get(snapshotId);
    const instanceId = snapshot?.source_instance_id ?? '';
    const fault = this.deleteFaults.get(snapshotId)?.shift();
    if (fault) {
      this.log.push({ at: this.clock.now(), op: 'delete-failed', instanceId, snapshotId });
      throw fault;
    }
    if (!snapshot) throw new NotFoundError(`snapshot ${snapshotId} not found`);
    this.snapshots.delete(snapshotId);
    this.log.push({
      at: this.clock.now(),
      op: 'delete',
      instanceId,
      snapshotId,
      provenance: snapshot.schedule?.instance_id ?? null,
    });
  }

  /** A manual snapshot, as `POST /instances/{id}/snapshots` makes it: no provenance. */
  createManual(instanceId: string, req: { name: string; tags?: Record<string, string> }) {
    const kind = this.kindFor(instanceId);
    this.requireFreeName(instanceId, req.name);
    return this.store({
      instanceId,
      name: req.name,
      tags: req.tags ?? {},
      kind,
      schedule: null,
      scheduleRunId: null,
    });
  }

  /**
   * A snapshot with scheduled provenance made without a run, as hypeman's upstream tests
   * fabricate them: stands for a snapshot an earlier schedule run took.
   */
  seedScheduled(instanceId: string, name: string): FakeSnapshot {
    return this.store({
      instanceId,
      name,
      tags: { 'hypeman.scheduled': 'true', 'hypeman.schedule_instance_id': instanceId },
      kind: this.kindFor(instanceId),
      schedule: { instance_id: instanceId },
      scheduleRunId: null,
    });
  }

  /** Every snapshot of a source instance, oldest first. */
  listBySource(instanceId: string): FakeSnapshot[] {
    return [...this.snapshots.values()].filter((s) => s.source_instance_id === instanceId);
  }

  private store(fields: {
    instanceId: string;
    name: string;
    tags: Record<string, string>;
    kind: FakeSnapshot['kind'];
    schedule: FakeSnapshot['schedule'];
    scheduleRunId: string | null;
  }): FakeSnapshot {
    const snapshot: FakeSnapshot = {
      id: newId(),
      name: fields.name,
      kind: fields.kind,
      tags: { ...fields.tags },
      source_instance_id: fields.instanceId,
      created_at: toRfc3339(this.clock.now()),
      status: 'ready',
      pinned: false,
      schedule: fields.schedule,
      scheduleRunId: fields.scheduleRunId,
    };
    this.snapshots.set(snapshot.id, snapshot);
    return snapshot;
  }

  private kindFor(instanceId: string): FakeSnapshot['kind'] {
    const instance = this.instances.find(instanceId);
    if (!instance) throw new NotFoundError('instance not found');
    if (instance.state === 'Stopped') return 'Stopped';
    if (['Running', 'Standby', 'Paused'].includes(instance.state)) return 'Standby';
    throw new InvalidStateError(
      `snapshot requires source in Running, Paused, Standby or Stopped, got ${instance.state}`,
    );
  }

  private requireFreeName(instanceId: string, name: string): void {
    for (const s of this.snapshots.values()) {
      if (s.source_instance_id === instanceId && s.name === name) {
        throw new AlreadyExistsError(`snapshot name ${name} already exists on this instance`);
      }
    }
  }

  private async misbehave(fault: Fault, signal: AbortSignal): Promise<void> {
    if ('fail' in fault) throw fault.fail;
    if ('hang' in fault) {
      await new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    if ('delayMs' in fault) {
      await this.clock.sleep(fault.delayMs, signal);
      if (fault.then instanceof Error) throw fault.then;
    }
  }
}

/** An error like the one a hypervisor call or file system gives. */
export function ioError(message: string, code = 'EIO'): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}
