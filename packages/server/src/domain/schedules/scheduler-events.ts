/**
 * The scheduler's typed events. Tests wait on these instead of on wall time; the server can
 * forward them to `/events` and metrics.
 */
import { EventEmitter } from 'node:events';

/** Named points in a run where a test may simulate the process being killed. */
export type CrashPoint =
  | 'after_state_save_before_capture'
  | 'after_capture_before_state_save'
  | 'after_retention_before_finish';

export interface RunStartedEvent {
  instanceId: string;
  scheduleId: string;
  runId: string;
  /** The slot (`next_run_at` before the claim), epoch ms. */
  scheduledFor: number;
  /** The run time: `last_run_at`, and the time in the snapshot's name. */
  startedAt: number;
}

export interface RunSucceededEvent {
  instanceId: string;
  scheduleId: string;
  runId: string;
  /** Null on a deleted instance's retention-only run. */
  snapshotId: string | null;
  deletedSnapshotIds: string[];
  /** Set when some retention deletes failed (the capture still succeeded). */
  error: string | null;
}

export interface RunFailedEvent {
  instanceId: string;
  scheduleId: string;
  runId: string;
  error: string;
}

export interface RunSkippedEvent {
  instanceId: string;
  scheduleId: string;
  scheduledFor: number;
  reason: string;
}

export interface RetentionDeletedEvent {
  instanceId: string;
  scheduleId: string;
  runId: string;
  snapshotId: string;
  /** The retention rule that chose it. */
  reason: string;
}

export interface ScheduleRemovedEvent {
  instanceId: string;
  scheduleId: string;
  reason: string;
}

export interface TickEvent {
  at: number;
  /** How many runs this pass started. */
  started: number;
}

export interface SchedulerEventMap {
  'run-started': [RunStartedEvent];
  'run-succeeded': [RunSucceededEvent];
  'run-failed': [RunFailedEvent];
  'run-skipped': [RunSkippedEvent];
  'retention-deleted': [RetentionDeletedEvent];
  /** A deleted instance's schedule retired itself: nothing left to prune (BB-12). */
  'schedule-removed': [ScheduleRemovedEvent];
  /** One pass of the loop: a wake-up that looked for due schedules. */
  tick: [TickEvent];
}

/** The emitter the scheduler exposes as `events`. */
export class SchedulerEvents extends EventEmitter<SchedulerEventMap> {}

/**
 * Thrown when a test's crash hook kills the scheduler at a crash point, and at every later
 * step of any run of that scheduler: a dead process writes nothing more.
 */
export class SimulatedCrash extends Error {
  constructor(readonly point?: CrashPoint) {
    super(point ? `simulated crash at ${point}` : 'the scheduler was killed by a simulated crash');
    this.name = 'SimulatedCrash';
  }
}
