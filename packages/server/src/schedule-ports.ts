/**
 * Adapts the instances/snapshots domain to the ports the schedule code needs, so schedules know
 * nothing of drivers, payload files or HTTP, and the domain knows nothing of schedules.
 */

import { NotFoundError } from './domain/errors.js';
import type { InstanceService } from './domain/instances/service.js';
import { durationToMs } from './domain/schedules/duration.js';
import type { InstancePort, SnapshotPort } from './domain/schedules/ports.js';
import type { ScheduleStore } from './domain/schedules/schedule-store.js';
import type { SnapshotService } from './domain/snapshots/service.js';
import type { SnapshotExpiry } from './domain/snapshots/view.js';

/** Finds instances by canonical id; a deleted instance is `undefined`, never an error. */
export function instancePort(instances: InstanceService): InstancePort {
  return {
    find(instanceId) {
      try {
        const record = instances.get(instanceId);
        // A prefix or name that happens to match another instance is not this instance.
        if (record.id !== instanceId) return undefined;
        return {
          id: record.id,
          name: record.name,
          state: record.state,
          stateError: record.stateError,
        };
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },
  };
}

/** Captures with server-side provenance, lists what a schedule took, deletes by id. */
export function snapshotPort(snapshots: SnapshotService): SnapshotPort {
  return {
    async capture(instanceId, req, opts) {
      // Waits for the instance lock: a scheduled run queues behind a user's operation instead
      // of failing; the scheduler's timeout (its signal) bounds the wait.
      const record = await snapshots.create(
        instanceId,
        { name: req.name, tags: req.tags },
        { provenance: opts.provenance, signal: opts.signal, lock: 'wait' },
      );
      const view = snapshots.view(record);
      return { id: view.id, created_at: view.created_at };
    },
    listScheduled(instanceId) {
      return snapshots.listScheduled(instanceId).map((record) => {
        const view = snapshots.view(record);
        return {
          id: view.id,
          name: view.name ?? null,
          created_at: view.created_at,
          status: view.status,
          pinned: view.pinned,
          schedule: view.schedule ? { instance_id: view.schedule.instance_id } : null,
        };
      });
    },
    deleteUnlessPinned: (snapshotId) => snapshots.delete(snapshotId, { keepPinned: true }),
  };
}

/**
 * `expires_at`: a ready, unpinned snapshot a schedule took may be pruned by age once it is
 * older than the instance's current `max_age`. Count retention gives no date: it depends on
 * runs still to come.
 */
export function scheduledExpiry(store: ScheduleStore): SnapshotExpiry {
  return (record) => {
    if (record.scheduleInstanceId === null || record.pinned || record.status !== 'ready') {
      return null;
    }
    const schedule = store.get(record.scheduleInstanceId);
    if (!schedule || schedule.maxAgeNs === 0n) return null;
    return record.createdAt + durationToMs(schedule.maxAgeNs);
  };
}
