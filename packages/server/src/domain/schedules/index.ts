/**
 * Scheduled snapshots: the schedule service behind `/instances/{id}/snapshot-schedule`, the
 * scheduler that runs schedules, and the pure rules (durations, cadence, retention, naming)
 * they share with previews and tests. The server wires the ports in `ports.ts`.
 */

export { RESERVED_TAG_PREFIXES, SCHEDULE_INSTANCE_TAG, SCHEDULED_TAG } from '../tags.js';
export { cadenceJitterNs, initialNextRunAt, nextRunAt } from './cadence.js';
export { formatDuration, InvalidDurationError, parseDuration } from './duration.js';
export { buildSnapshotName, DEFAULT_NAME_PREFIX, MAX_NAME_PREFIX_LENGTH } from './naming.js';
export type {
  CaptureProvenance,
  InstancePort,
  InstanceSummary,
  ScheduledSnapshot,
  SchedulerLogger,
  SnapshotPort,
} from './ports.js';
export {
  planRetention,
  type RetentionDecision,
  type RetentionOptions,
  type RetentionPolicy,
} from './retention.js';
export {
  ScheduleService,
  type ScheduleServiceOptions,
  type SnapshotScheduleView,
  toScheduleView,
} from './schedule-service.js';
export { type RunRecord, type ScheduleRecord, ScheduleStore } from './schedule-store.js';
export { validateScheduleBody } from './schedule-validation.js';
export { INTERRUPTED_ERROR, Scheduler, type SchedulerOptions } from './scheduler.js';
export type { CrashPoint, SchedulerEventMap } from './scheduler-events.js';
