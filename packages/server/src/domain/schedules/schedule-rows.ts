/**
 * Rows of `snapshot_schedules` and `schedule_runs` as SQLite returns them, and their mapping to
 * the records the rest of the schedule code uses.
 */
import type { RunRecord, RunStatus, ScheduleRecord } from './schedule-store.js';

/** A `snapshot_schedules` row, read with bigint integers. */
export interface ScheduleRow {
  instance_id: string;
  schedule_id: string;
  interval_ns: bigint;
  name_prefix: string | null;
  metadata: string;
  max_count: bigint;
  max_age_ns: bigint;
  next_run_at: bigint;
  last_run_at: bigint | null;
  last_snapshot_id: string | null;
  last_error: string | null;
  created_at: bigint;
  updated_at: bigint;
}

/** A `schedule_runs` row. */
export interface RunRow {
  id: string;
  instance_id: string;
  schedule_id: string;
  scheduled_for: number;
  started_at: number | null;
  finished_at: number | null;
  status: RunStatus;
  reason: string | null;
  snapshot_id: string | null;
  deleted_snapshot_ids: string;
  error: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
}

/** A schedule row as a record; metadata that does not parse marks the record defective. */
export function toSchedule(row: ScheduleRow): ScheduleRecord {
  const metadata = parseMetadata(row.metadata);
  return {
    ...(metadata ? {} : { defect: 'its stored metadata is not a JSON object of strings' }),
    instanceId: row.instance_id,
    scheduleId: row.schedule_id,
    intervalNs: row.interval_ns,
    namePrefix: row.name_prefix,
    metadata: metadata ?? {},
    maxCount: Number(row.max_count),
    maxAgeNs: row.max_age_ns,
    nextRunAt: Number(row.next_run_at),
    lastRunAt: row.last_run_at === null ? null : Number(row.last_run_at),
    lastSnapshotId: row.last_snapshot_id,
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function parseMetadata(text: string): Record<string, string> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    const ok =
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every((v) => typeof v === 'string');
    return ok ? (value as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

/** A run row as a record. */
export function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    instanceId: row.instance_id,
    scheduleId: row.schedule_id,
    scheduledFor: row.scheduled_for,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    status: row.status,
    reason: row.reason,
    snapshotId: row.snapshot_id,
    deletedSnapshotIds: JSON.parse(row.deleted_snapshot_ids) as string[],
    error: row.error,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
  };
}
