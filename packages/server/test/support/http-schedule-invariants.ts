/**
 * The global invariants of the scheduling cases (cases/README.md), checked after every case
 * of the HTTP world, once the server is idle. Over a whole server all seven can be asserted:
 * - I1: a non-null `last_snapshot_id` names an existing snapshot with this instance's
 *   scheduled provenance.
 * - I2: the orphan scan (H6) finds no payload without a ready record and no record without a
 *   complete payload.
 * - I3: per VM, the mock's call log breaks no pause rule; pause windows never overlap; every
 *   pause was closed by a resume or the VMM exiting, unless the guest is meant to be paused.
 * - I4: a scheduled run leaves the instance in the state it found it (a guest whose resume
 *   failed after a complete capture is reported Paused with a state error: BB-26 B).
 * - I5: retention never deletes a manual snapshot, and manual snapshots survive.
 * - I6: `next_run_at > last_run_at` whenever both are set.
 * - I7: every timestamp in a schedule response is RFC 3339 in UTC (`Z`).
 */
import type { PauseWindow } from '@vmkeep/hypervisor';
import { expect } from 'vitest';
import { scanOrphans } from '../../src/domain/reconcile.js';
import type { HttpScheduleWorld } from './http-schedule-world.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const TIME_FIELDS = ['next_run_at', 'last_run_at', 'created_at', 'updated_at'] as const;

export async function assertHttpScheduleInvariants(world: HttpScheduleWorld): Promise<void> {
  await world.settle();
  assertTimestamps(world);
  assertRunsKeepState(world);
  if (!world.running) return;
  await assertSchedules(world);
  await assertManualSnapshotsSafe(world);
  expect(await scanOrphans(world.services.domain), 'I2: orphan scan').toEqual([]);
  assertPauseProtocol(world);
}

/** I1 and I6, for every instance the case made. */
async function assertSchedules(world: HttpScheduleWorld): Promise<void> {
  for (const instanceId of world.instanceIds) {
    const reply = await world.getSchedule(instanceId);
    if (reply.status !== 200) continue;
    const schedule = reply.body;
    if (schedule.last_snapshot_id !== null) {
      const snapshot = await world.getSnapshot(schedule.last_snapshot_id);
      expect(snapshot.status, `I1: last_snapshot_id of ${instanceId} exists`).toBe(200);
      expect(snapshot.body.schedule?.instance_id, `I1: it is ${instanceId}'s scheduled`).toBe(
        instanceId,
      );
    }
    if (schedule.last_run_at !== null) {
      expect(
        Date.parse(schedule.next_run_at),
        `I6: next_run_at > last_run_at for ${instanceId}`,
      ).toBeGreaterThan(Date.parse(schedule.last_run_at));
    }
  }
}

/** I5. */
async function assertManualSnapshotsSafe(world: HttpScheduleWorld): Promise<void> {
  for (const deletion of world.retentionDeletions()) {
    expect(world.manualSnapshotIds.has(deletion.snapshotId), 'I5: deleted a manual one').toBe(
      false,
    );
    expect(deletion.provenance, `I5: ${deletion.snapshotId} was scheduled`).not.toBeNull();
  }
  for (const id of world.manualSnapshotIds) {
    expect((await world.getSnapshot(id)).status, `I5: manual snapshot ${id} survives`).toBe(200);
  }
}

/** I7. */
function assertTimestamps(world: HttpScheduleWorld): void {
  for (const reply of world.scheduleReplies) {
    if (reply.status !== 200) continue;
    for (const field of TIME_FIELDS) {
      const value = reply.body[field];
      if (value !== null) expect(value, `I7: ${field}`).toMatch(RFC3339_UTC);
    }
  }
}

/** I4. */
function assertRunsKeepState(world: HttpScheduleWorld): void {
  for (const run of world.runStates.runs) {
    if (!run.after) continue;
    const stuckAfterResumeFailure =
      run.before.state === 'Running' &&
      run.after.state === 'Paused' &&
      /could not be resumed/.test(run.after.stateError ?? '');
    if (stuckAfterResumeFailure) continue;
    expect(run.after.state, `I4: run ${run.runId} on ${run.instanceId}`).toBe(run.before.state);
  }
}

/** I3, over the call log of every server the world ran. */
function assertPauseProtocol(world: HttpScheduleWorld): void {
  const byVm = new Map<string, PauseWindow[]>();
  for (const driver of world.drivers) {
    expect(driver.calls.violations(), 'I3: pause protocol').toEqual([]);
    for (const window of driver.calls.pauseWindows()) {
      byVm.set(window.runDir, [...(byVm.get(window.runDir) ?? []), window]);
      if (window.closedBy !== 'open') continue;
      // Still paused: a guest the user paused (or whose resume failed), or one handed over to
      // the next server on restart (it re-attaches it paused).
      const handedOver = driver.calls
        .entries(window.runDir)
        .some((e) => e.kind === 'detach' && e.at >= window.pausedAt);
      const instanceId = [...world.instanceIds].find((id) => window.runDir.includes(id));
      const state = instanceId ? world.services.domain.repos.instances.get(instanceId)?.state : '';
      expect(handedOver || state === 'Paused', `I3: ${window.runDir} left paused`).toBe(true);
    }
  }
  for (const [runDir, windows] of byVm) {
    const sorted = [...windows].sort((a, b) => a.pausedAt - b.pausedAt);
    for (const [i, window] of sorted.entries()) {
      const next = sorted[i + 1];
      if (!next || window.resumedAt === undefined) continue;
      expect(next.pausedAt, `I3: pause windows of ${runDir} overlap`).toBeGreaterThanOrEqual(
        window.resumedAt,
      );
    }
  }
}
