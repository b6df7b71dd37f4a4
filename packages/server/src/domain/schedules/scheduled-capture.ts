/**
 * The capture step of a scheduled run: a name, the tags, provenance, and a deadline.
 */
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import { formatDuration, NS_PER_MS } from './duration.js';
import { snapshotNameCandidates } from './naming.js';
import type { SchedulerLogger, SnapshotPort } from './ports.js';
import type { ScheduleRecord } from './schedule-store.js';

export interface CaptureDeps {
  clock: Clock;
  snapshots: SnapshotPort;
  logger: SchedulerLogger;
  captureTimeoutMs: number;
}

/**
 * Captures the schedule's instance and returns the new snapshot's id. The capture runs under
 * a deadline on the injected clock: one that outlives it is aborted and this rejects at once
 * with "capture timeout", whether or not the capture honours the abort, so a hung hypervisor
 * never holds a capture slot or the schedule (BB-13). On a name collision it tries the next
 * candidate name (naming.ts), never overwriting (BB-24).
 */
export async function captureScheduled(
  deps: CaptureDeps,
  schedule: ScheduleRecord,
  runId: string,
  runTime: number,
): Promise<string> {
  // The snapshot service adds the provenance tags from `provenance`.
  const tags = { ...schedule.metadata };
  const provenance = { scheduleInstanceId: schedule.instanceId, scheduleRunId: runId };
  const abort = new AbortController();
  const deadline = new AbortController();
  const timeout = deps.clock.sleep(deps.captureTimeoutMs, deadline.signal).then(
    () => {
      const limit = formatDuration(BigInt(deps.captureTimeoutMs) * NS_PER_MS);
      const error = new Error(`capture timeout: no result within ${limit}; capture aborted`);
      abort.abort(error);
      throw error;
    },
    // The capture settled first and cancelled the deadline: this side of the race never ends.
    () => new Promise<never>(() => {}),
  );

  try {
    const names = snapshotNameCandidates(schedule.namePrefix, runTime);
    for (const [attempt, name] of names.entries()) {
      const pending = deps.snapshots.capture(
        schedule.instanceId,
        { name, tags },
        { provenance, signal: abort.signal },
      );
      reportLateResult(deps, pending, abort.signal, schedule.instanceId);
      try {
        const created = await Promise.race([pending, timeout]);
        return created.id;
      } catch (error) {
        const taken = error instanceof DomainError && error.code === 'already_exists';
        if (!taken || abort.signal.aborted) throw error;
        if (attempt === names.length - 1) {
          throw new Error(
            `every name from ${names[0]} to ${name} is taken on this instance (${error.message}); ` +
              'delete some of those snapshots or change name_prefix',
          );
        }
      }
    }
    throw new Error('no snapshot name to try');
  } finally {
    deadline.abort();
  }
}

/** A capture that resolves after its deadline made a snapshot no run records; say so once. */
function reportLateResult(
  deps: CaptureDeps,
  pending: Promise<{ id: string }>,
  signal: AbortSignal,
  instanceId: string,
): void {
  pending.then(
    (late) => {
      if (!signal.aborted) return;
      deps.logger.warn(
        { instanceId, snapshotId: late.id },
        'a capture finished after its timeout; retention treats it as any scheduled snapshot',
      );
    },
    // Its rejection is the run's to handle (or, after a timeout, of no interest).
    () => {},
  );
}
