/**
 * SQL for `snapshot_schedules` and `schedule_runs`. Durations are read as bigint nanoseconds
 * (a year does not fit a double's integer range in ns); times are epoch milliseconds.
 *
 * A run never rewrites a whole schedule. It claims its slot in one transaction (advancing
 * `next_run_at` only if nobody moved it meanwhile), then touches only its own columns
 * (`last_snapshot_id`, `last_error`, `updated_at`), always `WHERE schedule_id = ?`: a PUT made
 * during the run keeps its edit (BB-09), and a DELETE, or a DELETE and re-create, is never
 * undone or written into (BB-10), because a re-created schedule has a new `schedule_id`.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../store/db.js';
import { type RunRow, type ScheduleRow, toRun, toSchedule } from './schedule-rows.js';

/** A schedule as stored. */
export interface ScheduleRecord {
  instanceId: string;
  /** New each time a schedule is created for the instance. */
  scheduleId: string;
  intervalNs: bigint;
  namePrefix: string | null;
  metadata: Record<string, string>;
  maxCount: number;
  maxAgeNs: bigint;
  nextRunAt: number;
  lastRunAt: number | null;
  lastSnapshotId: string | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /**
   * Why the stored row cannot be run as it is (metadata that is not a JSON object of strings:
   * only possible if the database was edited by hand). Such a schedule fails its runs with
   * this as `last_error` instead of breaking the pass for every other schedule.
   */
  defect?: string;
}

export type ClaimResult = 'claimed' | 'moved' | 'slot_taken';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'skipped';

/** One run of a schedule, as stored. */
export interface RunRecord {
  id: string;
  instanceId: string;
  scheduleId: string;
  scheduledFor: number;
  startedAt: number | null;
  finishedAt: number | null;
  status: RunStatus;
  reason: string | null;
  snapshotId: string | null;
  deletedSnapshotIds: string[];
  error: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
}

/** What a run claims: its slot, the schedule's advance, and the lease on the work. */
export interface RunClaim {
  runId: string;
  schedule: ScheduleRecord;
  /** The run time: `last_run_at`, `started_at`, `updated_at`. */
  nowMs: number;
  /** Where `next_run_at` moves to. */
  nextRunAt: number;
  leaseOwner: string;
  leaseExpiresAt: number;
}

/** How a run ends. */
export interface RunOutcome {
  status: 'succeeded' | 'failed';
  nowMs: number;
  error?: string | null;
  deletedSnapshotIds?: string[];
  /** Written to the schedule's `last_error` too when set. */
  scheduleError?: string | null;
}

/** The schedule and run tables. */
export class ScheduleStore {
  /** Prepared statements by SQL text: the scheduler runs the same few every few seconds. */
  private readonly statements = new Map<string, Statement>();

  constructor(readonly db: Db) {}

  /** Runs `fn` in one IMMEDIATE transaction, so another process cannot interleave. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** The instance's schedule, if any. */
  get(instanceId: string): ScheduleRecord | undefined {
    const row = this.select('SELECT * FROM snapshot_schedules WHERE instance_id = ?').get(
      instanceId,
    );
    return row ? toSchedule(row as ScheduleRow) : undefined;
  }

  /** Creates or replaces the instance's schedule (the service decides every column). */
  save(record: ScheduleRecord): void {
    this.prepare(
      `INSERT INTO snapshot_schedules (instance_id, schedule_id, interval_ns, name_prefix,
           metadata, max_count, max_age_ns, next_run_at, last_run_at, last_snapshot_id,
           last_error, created_at, updated_at)
         VALUES (@instanceId, @scheduleId, @intervalNs, @namePrefix, @metadata, @maxCount,
           @maxAgeNs, @nextRunAt, @lastRunAt, @lastSnapshotId, @lastError, @createdAt, @updatedAt)
         ON CONFLICT (instance_id) DO UPDATE SET schedule_id = excluded.schedule_id,
           interval_ns = excluded.interval_ns, name_prefix = excluded.name_prefix,
           metadata = excluded.metadata, max_count = excluded.max_count,
           max_age_ns = excluded.max_age_ns, next_run_at = excluded.next_run_at,
           last_run_at = excluded.last_run_at, last_snapshot_id = excluded.last_snapshot_id,
           last_error = excluded.last_error, created_at = excluded.created_at,
           updated_at = excluded.updated_at`,
    ).run({ ...record, metadata: JSON.stringify(record.metadata) });
  }

  /** Removes the instance's schedule; false when there was none. */
  delete(instanceId: string): boolean {
    return (
      this.prepare('DELETE FROM snapshot_schedules WHERE instance_id = ?').run(instanceId).changes >
      0
    );
  }

  /** Removes exactly this schedule (not a re-created one); false when it is already gone. */
  deleteSchedule(scheduleId: string): boolean {
    return (
      this.prepare('DELETE FROM snapshot_schedules WHERE schedule_id = ?').run(scheduleId).changes >
      0
    );
  }

  /**
   * The earliest `next_run_at` among schedules of instances not in `exclude`. Written as
   * ORDER BY … LIMIT 1, not min(): SQLite answers min() with a WHERE by scanning every row,
   * this walks the `next_run_at` index and stops at the first row not excluded.
   */
  earliestNextRunAt(exclude: Iterable<string>): number | undefined {
    const value = this.prepare(
      `SELECT next_run_at FROM snapshot_schedules
         WHERE instance_id NOT IN (SELECT value FROM json_each(?))
         ORDER BY next_run_at LIMIT 1`,
    )
      .pluck()
      .get(JSON.stringify([...exclude]));
    return typeof value === 'number' ? value : undefined;
  }

  /** Schedules due at `nowMs`, earliest first, skipping instances in `exclude`. */
  listDue(nowMs: number, exclude: Iterable<string>, limit: number): ScheduleRecord[] {
    return (
      this.select(
        `SELECT * FROM snapshot_schedules
         WHERE next_run_at <= ? AND instance_id NOT IN (SELECT value FROM json_each(?))
         ORDER BY next_run_at, instance_id LIMIT ?`,
      ).all(nowMs, JSON.stringify([...exclude]), limit) as ScheduleRow[]
    ).map(toSchedule);
  }

  /**
   * Schedules whose `next_run_at` is farther ahead of `nowMs` than one interval plus the jitter
   * window: only a wall clock that moved backwards leaves them there (see cadence.ts).
   */
  listStrandedAhead(nowMs: number): ScheduleRecord[] {
    return (
      this.select(
        `SELECT * FROM snapshot_schedules WHERE interval_ns > 0 AND next_run_at - ? >
           interval_ns / 1000000 + min(interval_ns / 10, 300000000000) / 1000000`,
      ).all(nowMs) as ScheduleRow[]
    ).map(toSchedule);
  }

  /** Moves `next_run_at` if it still holds `from`; false if a PUT or a run changed it. */
  moveNextRun(scheduleId: string, from: number, to: number, nowMs: number): boolean {
    return (
      this.prepare(
        `UPDATE snapshot_schedules SET next_run_at = ?, updated_at = ?
           WHERE schedule_id = ? AND next_run_at = ?`,
      ).run(to, nowMs, scheduleId, from).changes > 0
    );
  }

  /**
   * Claims the schedule's current slot for one run, atomically: advances the schedule (clearing
   * the last run's results) only if `next_run_at` still holds the slot the caller read, and
   * inserts the `running` run row. `moved`: a PUT, a DELETE, or another process's claim got
   * there first. `slot_taken`: a run for this very slot exists already (the unique
   * `(schedule_id, scheduled_for)`), which only a wall clock moved backwards can cause.
   */
  claimRun(claim: RunClaim): ClaimResult {
    const { schedule } = claim;
    try {
      return this.transaction(() => {
        const advanced = this.prepare(
          `UPDATE snapshot_schedules SET next_run_at = ?, last_run_at = ?,
               last_snapshot_id = NULL, last_error = NULL, updated_at = ?
             WHERE schedule_id = ? AND next_run_at = ?`,
        ).run(claim.nextRunAt, claim.nowMs, claim.nowMs, schedule.scheduleId, schedule.nextRunAt);
        if (advanced.changes === 0) return 'moved';
        this.prepare(
          `INSERT INTO schedule_runs (id, instance_id, schedule_id, scheduled_for, started_at,
               status, lease_owner, lease_expires_at)
             VALUES (?, ?, ?, ?, ?, 'running', ?, ?)`,
        ).run(
          claim.runId,
          schedule.instanceId,
          schedule.scheduleId,
          schedule.nextRunAt,
          claim.nowMs,
          claim.leaseOwner,
          claim.leaseExpiresAt,
        );
        return 'claimed';
      });
    } catch (error) {
      // The transaction rolled back, so the schedule was not advanced either.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'slot_taken';
      throw error;
    }
  }

  /** Extends a running run's lease, so other processes do not take it for dead. */
  renewLease(runId: string, leaseExpiresAt: number): void {
    this.prepare(
      `UPDATE schedule_runs SET lease_expires_at = ? WHERE id = ? AND status = 'running'`,
    ).run(leaseExpiresAt, runId);
  }

  /** Records the snapshot a run created, on the run and (if it still exists) the schedule. */
  recordSnapshot(scheduleId: string, runId: string, snapshotId: string, nowMs: number): void {
    this.transaction(() => {
      this.prepare(
        `UPDATE snapshot_schedules SET last_snapshot_id = ?, updated_at = ?
           WHERE schedule_id = ?`,
      ).run(snapshotId, nowMs, scheduleId);
      this.prepare('UPDATE schedule_runs SET snapshot_id = ? WHERE id = ?').run(snapshotId, runId);
    });
  }

  /** Ends a run; sets the schedule's `last_error` when the outcome carries one. */
  finishRun(scheduleId: string, runId: string, outcome: RunOutcome): void {
    this.transaction(() => {
      this.prepare(
        `UPDATE schedule_runs SET status = ?, finished_at = ?, error = ?,
             deleted_snapshot_ids = ?, lease_expires_at = NULL
           WHERE id = ?`,
      ).run(
        outcome.status,
        outcome.nowMs,
        outcome.error ?? null,
        JSON.stringify(outcome.deletedSnapshotIds ?? []),
        runId,
      );
      if (outcome.scheduleError)
        this.setLastError(scheduleId, outcome.scheduleError, outcome.nowMs);
    });
  }

  /** Sets `last_error` on exactly this schedule, if it still exists. */
  setLastError(scheduleId: string, message: string, nowMs: number): void {
    this.prepare(
      'UPDATE snapshot_schedules SET last_error = ?, updated_at = ? WHERE schedule_id = ?',
    ).run(message, nowMs, scheduleId);
  }

  /**
   * Fails runs left `running` by a process that died: those whose lease expired before `nowMs`,
   * and those owned by `previousOwner` (this process's own id, in a previous life). The
   * schedule's `last_error` says so when that run is still its latest, so a lost slot is never
   * shown as a clean run (BB-01 variant B). Returns the runs it failed.
   */
  failInterrupted(nowMs: number, message: string, previousOwner?: string): RunRecord[] {
    return this.transaction(() => {
      const stale = (
        this.prepare(
          `SELECT * FROM schedule_runs WHERE status = 'running'
               AND (lease_expires_at < ? OR lease_owner = ?)`,
        ).all(nowMs, previousOwner ?? null) as RunRow[]
      ).map(toRun);
      for (const run of stale) {
        this.finishRunRow(run.id, 'failed', nowMs, message);
        this.prepare(
          `UPDATE snapshot_schedules SET last_error = ?, updated_at = ?
             WHERE schedule_id = ? AND last_run_at = ?`,
        ).run(message, nowMs, run.scheduleId, run.startedAt);
      }
      return stale;
    });
  }

  /** A run by id. */
  getRun(runId: string): RunRecord | undefined {
    const row = this.prepare('SELECT * FROM schedule_runs WHERE id = ?').get(runId);
    return row ? toRun(row as RunRow) : undefined;
  }

  /** The instance's runs, newest first. */
  listRuns(instanceId: string): RunRecord[] {
    return (
      this.prepare('SELECT * FROM schedule_runs WHERE instance_id = ? ORDER BY seq DESC').all(
        instanceId,
      ) as RunRow[]
    ).map(toRun);
  }

  private finishRunRow(runId: string, status: RunStatus, nowMs: number, error: string): void {
    this.prepare(
      `UPDATE schedule_runs SET status = ?, finished_at = ?, error = ?, lease_expires_at = NULL
         WHERE id = ?`,
    ).run(status, nowMs, error, runId);
  }

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * A statement that reads integers as bigint, for the nanosecond columns. Cached apart from
   * `prepare`'s (the comment makes the key differ), since the mode sticks to the statement.
   */
  private select(sql: string): Statement {
    return this.prepare(`${sql} -- bigint`).safeIntegers(true);
  }
}
