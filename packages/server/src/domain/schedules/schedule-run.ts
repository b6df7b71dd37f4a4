/**
 * One run of one schedule: claim the slot, capture, record, prune, finish. The order is the
 * point of this file; each step says why it comes where it does.
 */

import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import { nextRunAt } from './cadence.js';
import { durationToMs, formatDuration, NS_PER_SECOND } from './duration.js';
import type { InstancePort, SchedulerLogger, SnapshotPort } from './ports.js';
import { planRetention } from './retention.js';
import type { ScheduleRecord, ScheduleStore } from './schedule-store.js';
import { captureScheduled } from './scheduled-capture.js';
import type { CrashPoint, SchedulerEvents } from './scheduler-events.js';
import type { Semaphore } from './semaphore.js';

/**
 * Intervals below this are never run, whatever is stored: a `0s` (or `1ns`) interval written
 * past the API would otherwise keep the schedule due forever and spin (BB-31).
 */
export const MIN_SAFE_INTERVAL_NS = NS_PER_SECOND;

/** What a run needs from the scheduler that starts it. */
export interface RunContext {
  store: ScheduleStore;
  clock: Clock;
  instances: InstancePort;
  snapshots: SnapshotPort;
  logger: SchedulerLogger;
  events: SchedulerEvents;
  captures: Semaphore;
  captureTimeoutMs: number;
  leaseOwner: string;
  leaseMarginMs: number;
  defectRetryMs: number;
  /** Aborts when the scheduler stops: a run still waiting for a capture slot gives up. */
  stopSignal: AbortSignal;
  createId(): string;
  /** Throws when a test kills the process at `point`, or after it was killed anywhere. */
  checkpoint(point?: CrashPoint): void;
}

/** Runs `due` if it is still due when re-read. Never throws for a run's own failure. */
export async function runSchedule(ctx: RunContext, due: ScheduleRecord): Promise<void> {
  const defect = defectOf(due);
  if (defect) return refuseDefective(ctx, due, defect);

  // A capture waits for a free capture slot before claiming, so `last_run_at` and the name
  // are when the capture really starts, and a long queue does not look like a slow run.
  const release = ctx.instances.find(due.instanceId)
    ? await ctx.captures.acquire(ctx.stopSignal).catch(() => undefined)
    : () => {};
  if (!release) return;
  try {
    await claimAndRun(ctx, due.instanceId, release);
  } finally {
    release();
  }
}

async function claimAndRun(ctx: RunContext, instanceId: string, release: () => void) {
  const { store, clock, events } = ctx;

  // 1. Re-read and re-check: a PUT or DELETE may have landed while this run was queued.
  const runTime = clock.now();
  const schedule = store.get(instanceId);
  if (!schedule || schedule.nextRunAt > runTime) return;

  // 2. Claim the slot and advance the schedule in one transaction BEFORE capturing, so a
  //    crash can never make the same slot look due again (hypeman review #10, BB-01), and a
  //    second process on this database cannot take it too (H5).
  const runId = ctx.createId();
  const claimed = store.claimRun({
    runId,
    schedule,
    nowMs: runTime,
    nextRunAt: nextRunAt(schedule.nextRunAt, durationToMs(schedule.intervalNs), runTime),
    leaseOwner: ctx.leaseOwner,
    leaseExpiresAt: runTime + ctx.captureTimeoutMs + ctx.leaseMarginMs,
  });
  const base = { instanceId, scheduleId: schedule.scheduleId };
  if (claimed !== 'claimed') return skip(ctx, schedule, claimed, runTime);
  events.emit('run-started', {
    ...base,
    runId,
    scheduledFor: schedule.nextRunAt,
    startedAt: runTime,
  });
  ctx.checkpoint('after_state_save_before_capture');

  // 3. A deleted instance takes no snapshot; its schedule only prunes (BB-12).
  if (!ctx.instances.find(instanceId)) {
    release();
    return pruneDeletedInstance(ctx, schedule, runId, runTime);
  }

  // 4. Capture. The domain picks the kind from the live state and refuses states it cannot
  //    capture; any failure ends the run here, before retention: no new backup, no pruning.
  let snapshotId: string;
  try {
    snapshotId = await captureScheduled(ctx, schedule, runId, runTime);
  } catch (error) {
    return fail(ctx, schedule, runId, `capture failed: ${messageOf(error)}`);
  } finally {
    release();
  }
  ctx.checkpoint('after_capture_before_state_save');

  // 5. Point the schedule at its new snapshot at once, so whatever fails later, the schedule
  //    never forgets the backup it has (and never names one it lacks, I1).
  try {
    store.recordSnapshot(schedule.scheduleId, runId, snapshotId, clock.now());
  } catch (error) {
    ctx.logger.error({ ...base, runId, snapshotId, err: error }, 'saving the run result failed');
    return fail(
      ctx,
      schedule,
      runId,
      `snapshot ${snapshotId} was taken but saving it on the schedule failed ` +
        `(${messageOf(error)}); retention waits for the next run`,
    );
  }

  // 6. Retention, only now that a fresh snapshot exists, never touching it.
  const pruned = await prune(ctx, schedule, runId, runTime, { protect: snapshotId });
  ctx.checkpoint('after_retention_before_finish');

  // 7. Finish. A failed delete does not undo the capture: the run succeeded with an error. So
  //    does a guest left paused because its resume failed after a complete capture (BB-26 B):
  //    the snapshot is good, but the user must learn that the guest is not running.
  const problems = [
    ...stuckGuest(ctx, instanceId),
    ...(pruned.errors.length > 0 ? [`retention: ${pruned.errors.join('; ')}`] : []),
  ];
  const error = problems.length > 0 ? problems.join('; ') : null;
  store.finishRun(schedule.scheduleId, runId, {
    status: 'succeeded',
    nowMs: clock.now(),
    error,
    deletedSnapshotIds: pruned.deleted,
    scheduleError: error,
  });
  ctx.logger.info({ ...base, runId, snapshotId, deleted: pruned.deleted }, 'scheduled run done');
  events.emit('run-succeeded', {
    ...base,
    runId,
    snapshotId,
    deletedSnapshotIds: pruned.deleted,
    error,
  });
}

interface PruneResult {
  deleted: string[];
  errors: string[];
  /** The schedule as re-read for its policy; undefined if it was deleted meanwhile. */
  current?: ScheduleRecord;
}

/**
 * Deletes what the schedule's current retention policy says to. Skipped if the schedule was
 * deleted (or deleted and re-created) during the run: no retention without a schedule (BB-10).
 * A PUT during the run is honoured: the policy is re-read here. One failed delete does not stop
 * the others; one already gone counts as deleted.
 */
async function prune(
  ctx: RunContext,
  schedule: ScheduleRecord,
  runId: string,
  runTime: number,
  options: { protect?: string; keepNewest?: boolean },
): Promise<PruneResult> {
  const result: PruneResult = { deleted: [], errors: [] };
  const current = ctx.store.get(schedule.instanceId);
  if (!current || current.scheduleId !== schedule.scheduleId) return result;
  result.current = current;

  const plan = planRetention(
    ctx.snapshots.listScheduled(schedule.instanceId),
    { maxCount: current.maxCount, maxAgeMs: durationToMs(current.maxAgeNs) },
    runTime,
    {
      instanceId: schedule.instanceId,
      protect: options.protect ? [options.protect] : [],
      keepNewest: options.keepNewest ?? true,
    },
  );
  for (const decision of plan) {
    if (decision.action !== 'delete') continue;
    ctx.checkpoint();
    ctx.store.renewLease(runId, ctx.clock.now() + ctx.captureTimeoutMs + ctx.leaseMarginMs);
    try {
      if (!(await ctx.snapshots.deleteUnlessPinned(decision.id))) {
        ctx.logger.info({ snapshotId: decision.id, runId }, 'pinned during the run; kept');
        continue;
      }
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'not_found')) {
        ctx.logger.warn({ snapshotId: decision.id, err: error }, 'retention delete failed');
        result.errors.push(`delete snapshot ${decision.id}: ${messageOf(error)}`);
        continue;
      }
    }
    result.deleted.push(decision.id);
    ctx.events.emit('retention-deleted', {
      instanceId: schedule.instanceId,
      scheduleId: schedule.scheduleId,
      runId,
      snapshotId: decision.id,
      reason: decision.reason,
    });
  }
  return result;
}

/**
 * A deleted instance's run: prune by age (the newest-snapshot guard is lifted: nothing new will
 * come), then retire the schedule once nothing is left, or once count-only retention has
 * converged, since with no new snapshots the count can never grow past the limit again.
 */
async function pruneDeletedInstance(
  ctx: RunContext,
  schedule: ScheduleRecord,
  runId: string,
  runTime: number,
): Promise<void> {
  const { store, clock, events } = ctx;
  const pruned = await prune(ctx, schedule, runId, runTime, { keepNewest: false });
  const remaining = ctx.snapshots
    .listScheduled(schedule.instanceId)
    .filter((s) => s.schedule?.instance_id === schedule.instanceId && s.status === 'ready').length;
  const error = pruned.errors.length > 0 ? `retention: ${pruned.errors.join('; ')}` : null;
  ctx.checkpoint();
  store.finishRun(schedule.scheduleId, runId, {
    status: error ? 'failed' : 'succeeded',
    nowMs: clock.now(),
    error,
    deletedSnapshotIds: pruned.deleted,
    scheduleError: error,
  });
  const base = { instanceId: schedule.instanceId, scheduleId: schedule.scheduleId };
  if (error) {
    events.emit('run-failed', { ...base, runId, error });
    return;
  }
  events.emit('run-succeeded', {
    ...base,
    runId,
    snapshotId: null,
    deletedSnapshotIds: pruned.deleted,
    error,
  });

  // Judged by the policy as it is now: a PUT during the run may have changed it.
  const policy = pruned.current;
  if (!policy) return;
  const countOnly = policy.maxAgeNs === 0n && policy.maxCount > 0;
  const converged = remaining === 0 || (countOnly && remaining <= policy.maxCount);
  if (converged && store.deleteSchedule(schedule.scheduleId)) {
    const reason =
      remaining === 0
        ? 'instance deleted and no scheduled snapshots left'
        : 'count retention converged';
    ctx.logger.info({ ...base, remaining }, `schedule removed: ${reason}`);
    events.emit('schedule-removed', { ...base, reason });
  }
}

/**
 * The problem of a guest left paused with a state error. It arose during this run: a capture
 * first retries a pending resume, and fails instead of capturing if that fails again.
 */
function stuckGuest(ctx: RunContext, instanceId: string): string[] {
  const after = ctx.instances.find(instanceId);
  if (after?.state !== 'Paused' || !after.stateError) return [];
  return [`snapshot taken, but ${after.stateError}`];
}

/** Why a stored schedule cannot run, if it cannot. */
function defectOf(schedule: ScheduleRecord): string | undefined {
  if (schedule.intervalNs < MIN_SAFE_INTERVAL_NS) {
    return `its interval ${formatDuration(schedule.intervalNs)} is too short to run`;
  }
  return schedule.defect;
}

/**
 * A stored schedule that cannot run (only possible by writing the database directly): fail
 * the slot with a `last_error` saying what to fix, and look again after a pause instead of
 * spinning on a schedule that is always due (BB-31) or breaking every other schedule's pass.
 */
function refuseDefective(ctx: RunContext, schedule: ScheduleRecord, defect: string): void {
  const now = ctx.clock.now();
  const runId = ctx.createId();
  const claimed = ctx.store.claimRun({
    runId,
    schedule,
    nowMs: now,
    nextRunAt: now + ctx.defectRetryMs,
    leaseOwner: ctx.leaseOwner,
    leaseExpiresAt: now + ctx.leaseMarginMs,
  });
  if (claimed === 'claimed') {
    fail(ctx, schedule, runId, `schedule not run: ${defect}; PUT the schedule again to fix it`);
  } else {
    skip(ctx, schedule, claimed, now);
  }
}

function skip(
  ctx: RunContext,
  schedule: ScheduleRecord,
  claimed: 'moved' | 'slot_taken',
  now: number,
): void {
  // A slot value already used can only come back after the wall clock went backwards; nudge
  // it by a millisecond so the next pass claims a fresh slot instead of skipping until the
  // clock catches up.
  if (claimed === 'slot_taken') {
    ctx.store.moveNextRun(schedule.scheduleId, schedule.nextRunAt, schedule.nextRunAt + 1, now);
  }
  ctx.events.emit('run-skipped', {
    instanceId: schedule.instanceId,
    scheduleId: schedule.scheduleId,
    scheduledFor: schedule.nextRunAt,
    reason:
      claimed === 'moved'
        ? 'the slot was claimed by another scheduler or the schedule changed'
        : 'the slot was already run (the clock moved backwards)',
  });
}

function fail(ctx: RunContext, schedule: ScheduleRecord, runId: string, error: string): void {
  ctx.checkpoint();
  ctx.store.finishRun(schedule.scheduleId, runId, {
    status: 'failed',
    nowMs: ctx.clock.now(),
    error,
    scheduleError: error,
  });
  const base = { instanceId: schedule.instanceId, scheduleId: schedule.scheduleId };
  ctx.logger.warn({ ...base, runId, error }, 'scheduled run failed');
  ctx.events.emit('run-failed', { ...base, runId, error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
