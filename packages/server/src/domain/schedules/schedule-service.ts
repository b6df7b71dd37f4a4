/**
 * GET, PUT and DELETE of an instance's snapshot schedule, with hypeman's semantics and response
 * shape (hypeman.md §3.1–3.3), as plain TypeScript: the route resolves `{id}` and maps errors.
 *
 * Deliberate choices, each from a case:
 * - A PUT whose interval is unchanged keeps `next_run_at`, so config tooling re-applying the
 *   same body never postpones (or triggers) a run (BB-08); a new interval re-anchors the
 *   cadence one interval (plus the instance's jitter) from now.
 * - History (`last_*`) and `created_at` survive a PUT (hypeman review #6).
 * - GET and DELETE work after the instance is deleted: its schedule keeps pruning and the user
 *   must be able to see and stop that (BB-12, design 1; hypeman review #9). PUT requires the
 *   instance, and checks it before the body, so an unknown instance is 404 whatever the body
 *   (the order hypeman's path resolver gives, BB-33).
 */

import { type Clock, toRfc3339 } from '../clock.js';
import { NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import { initialNextRunAt } from './cadence.js';
import { formatDuration, NS_PER_MINUTE } from './duration.js';
import type { InstancePort } from './ports.js';
import type { ScheduleRecord, ScheduleStore } from './schedule-store.js';
import { validateScheduleBody } from './schedule-validation.js';

/** The hypeman `SnapshotSchedule` response. */
export interface SnapshotScheduleView {
  instance_id: string;
  /** Go's canonical form: `24h` comes back as `24h0m0s`. */
  interval: string;
  /** Present only when set. */
  name_prefix?: string;
  metadata: Record<string, string>;
  /** `max_count` is always present (0 = no count rule); `max_age` only when non-zero. */
  retention: { max_count: number; max_age?: string };
  next_run_at: string;
  last_run_at: string | null;
  last_snapshot_id: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ScheduleServiceOptions {
  store: ScheduleStore;
  clock: Clock;
  instances: InstancePort;
  /** The shortest interval a PUT accepts (default 1m; `VMKEEP_MIN_SCHEDULE_INTERVAL`). */
  minIntervalNs?: bigint;
  /**
   * Offset a new cadence by the instance's deterministic jitter (default true, as hypeman).
   * Off, a new schedule first runs exactly one interval after the PUT.
   */
  jitter?: boolean;
  /** Called after every PUT and DELETE: pass the scheduler's `wake`. */
  onChange?: (instanceId: string) => void;
}

export class ScheduleService {
  private readonly minIntervalNs: bigint;
  private readonly jitter: boolean;

  constructor(private readonly options: ScheduleServiceOptions) {
    this.minIntervalNs = options.minIntervalNs ?? NS_PER_MINUTE;
    this.jitter = options.jitter ?? true;
  }

  /** The instance's schedule; 404 when it has none (its instance may be gone). */
  get(instanceId: string): SnapshotScheduleView {
    const record = this.options.store.get(instanceId);
    if (!record) throw scheduleNotFound(instanceId);
    return toScheduleView(record);
  }

  /** Creates or replaces the instance's schedule; always answers with the stored schedule. */
  put(instanceId: string, body: unknown): SnapshotScheduleView {
    const { store, clock, instances } = this.options;
    if (!instances.find(instanceId)) {
      throw new NotFoundError('instance not found', { instance_id: instanceId });
    }
    const config = validateScheduleBody(body, this.minIntervalNs);

    const saved = store.transaction(() => {
      const now = clock.now();
      const existing = store.get(instanceId);
      const sameCadence = existing !== undefined && existing.intervalNs === config.intervalNs;
      const record: ScheduleRecord = {
        instanceId,
        scheduleId: existing?.scheduleId ?? newId(),
        ...config,
        nextRunAt: sameCadence
          ? existing.nextRunAt
          : initialNextRunAt(now, config.intervalNs, instanceId, { jitter: this.jitter }),
        lastRunAt: existing?.lastRunAt ?? null,
        lastSnapshotId: existing?.lastSnapshotId ?? null,
        lastError: existing?.lastError ?? null,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      store.save(record);
      return record;
    });
    this.options.onChange?.(instanceId);
    return toScheduleView(saved);
  }

  /** Removes the schedule; its snapshots stay. 404 when there is none. */
  delete(instanceId: string): void {
    if (!this.options.store.delete(instanceId)) throw scheduleNotFound(instanceId);
    this.options.onChange?.(instanceId);
  }
}

/** A stored schedule in hypeman's response shape. */
export function toScheduleView(record: ScheduleRecord): SnapshotScheduleView {
  const retention: SnapshotScheduleView['retention'] = { max_count: record.maxCount };
  if (record.maxAgeNs > 0n) retention.max_age = formatDuration(record.maxAgeNs);
  return {
    instance_id: record.instanceId,
    interval: formatDuration(record.intervalNs),
    ...(record.namePrefix ? { name_prefix: record.namePrefix } : {}),
    metadata: { ...record.metadata },
    retention,
    next_run_at: toRfc3339(record.nextRunAt),
    last_run_at: record.lastRunAt === null ? null : toRfc3339(record.lastRunAt),
    last_snapshot_id: record.lastSnapshotId,
    last_error: record.lastError,
    created_at: toRfc3339(record.createdAt),
    updated_at: toRfc3339(record.updatedAt),
  };
}

function scheduleNotFound(instanceId: string): NotFoundError {
  return new NotFoundError('snapshot schedule not found', { instance_id: instanceId });
}
