/**
 * The global invariants of the scheduling cases (cases/README.md) that hold at the schedule
 * layer, checked through the world interface after every case:
 * - I1: a non-null `last_snapshot_id` names an existing snapshot with this instance's
 *   scheduled provenance.
 * - I5: retention never deletes a manual snapshot.
 * - I6: `next_run_at > last_run_at` whenever both are set.
 * - I7: every timestamp in a schedule response is RFC 3339 in UTC (`Z`).
 */
import { expect } from 'vitest';
import type { ScheduleWorld } from './schedule-world.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const TIME_FIELDS = ['next_run_at', 'last_run_at', 'created_at', 'updated_at'] as const;

export async function assertScheduleInvariants(world: ScheduleWorld): Promise<void> {
  for (const instanceId of world.instanceIds) {
    const reply = await world.getSchedule(instanceId);
    if (reply.status !== 200) continue;
    const schedule = reply.body;

    if (schedule.last_snapshot_id !== null) {
      const snapshot = await world.getSnapshot(schedule.last_snapshot_id);
      expect(snapshot.status, `I1: last_snapshot_id of ${instanceId} exists`).toBe(200);
      expect(snapshot.body.schedule, `I1: last_snapshot_id of ${instanceId} is scheduled`).toEqual({
        instance_id: instanceId,
      });
    }

    if (schedule.last_run_at !== null) {
      expect(
        Date.parse(schedule.next_run_at),
        `I6: next_run_at > last_run_at for ${instanceId}`,
      ).toBeGreaterThan(Date.parse(schedule.last_run_at));
    }
  }

  const manual = world.manualSnapshotIds;
  for (const deletion of world.retentionDeletions()) {
    expect(manual.has(deletion.snapshotId), `I5: ${deletion.snapshotId} is manual`).toBe(false);
    expect(
      deletion.provenance,
      `I5: ${deletion.snapshotId} had scheduled provenance`,
    ).not.toBeNull();
  }
  for (const id of manual) {
    expect((await world.getSnapshot(id)).status, `I5: manual snapshot ${id} survives`).toBe(200);
  }

  for (const reply of world.scheduleReplies) {
    if (reply.status !== 200) continue;
    for (const field of TIME_FIELDS) {
      const value = reply.body[field];
      if (value !== null) expect(value, `I7: ${field}`).toMatch(RFC3339_UTC);
    }
  }
}
