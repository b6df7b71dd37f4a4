/**
 * Crashes and downtime: a slot is never taken twice, a lost slot is never shown as a clean run,
 * and an outage ends in exactly one catch-up run (cases BB-01, BB-03).
 */
import { describe, expect, it, vi } from 'vitest';
import { INTERRUPTED_ERROR } from '../src/domain/schedules/scheduler.js';
import type { CrashPoint } from '../src/domain/schedules/scheduler-events.js';
import { ioError } from './support/schedule-fakes.js';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const BODY = { interval: '1m', retention: { max_count: 10 } };

/** A crash hook that kills the server the first time a run reaches `point`. */
function killOnceAt(point: CrashPoint) {
  let killed = false;
  return (reached: CrashPoint) => {
    if (reached === point && !killed) {
      killed = true;
      throw new Error(`killed at ${point}`);
    }
  };
}

describe('BB-01 capture committed but schedule state not yet saved', () => {
  it('BB-01 A: a crash after the capture never yields a second snapshot for the slot', async () => {
    const world = newWorld({ onCrashPoint: killOnceAt('after_capture_before_state_save') });
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', BODY);

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);

    await world.advanceTo('2025-03-01T00:01:10Z');
    await world.restart({ onCrashPoint: undefined });
    await world.advanceTo('2025-03-01T00:01:50Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule).toMatchObject({
      next_run_at: '2025-03-01T00:02:00.000Z',
      last_run_at: '2025-03-01T00:01:00.000Z',
      last_snapshot_id: null,
      last_error: INTERRUPTED_ERROR,
    });

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
    ]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });

  it('BB-01 B: a crash between the state save and the capture loses the slot visibly', async () => {
    const world = newWorld({ onCrashPoint: killOnceAt('after_state_save_before_capture') });
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', BODY);

    await world.advanceTo('2025-03-01T00:01:00Z');
    await world.advanceTo('2025-03-01T00:01:10Z');
    await world.restart({ onCrashPoint: undefined });
    await world.advanceTo('2025-03-01T00:01:50Z');

    expect(await world.scheduledNames('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      next_run_at: '2025-03-01T00:02:00.000Z',
      last_run_at: '2025-03-01T00:01:00.000Z',
      last_snapshot_id: null,
      last_error: expect.stringContaining('interrupted'),
    });
    const [run] = world.store.listRuns('inst_A');
    expect(run).toMatchObject({ status: 'failed', error: INTERRUPTED_ERROR });

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000200']);
  });

  it('BB-01 B: a run left by another dead process is failed once its lease expires', async () => {
    const world = newWorld({
      onCrashPoint: killOnceAt('after_state_save_before_capture'),
      captureTimeoutMs: 120_000,
      leaseMarginMs: 60_000,
    });
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', BODY);
    await world.advanceTo('2025-03-01T00:01:00Z');
    await world.restart({ onCrashPoint: undefined, leaseOwner: 'another-process' });

    await world.advanceTo('2025-03-01T00:03:59Z');
    const stale = () => world.store.listRuns('inst_A').at(-1);
    expect(stale()).toMatchObject({ status: 'running', leaseOwner: 'world-server' });

    await world.advanceTo('2025-03-01T00:04:01Z');
    expect(stale()).toMatchObject({ status: 'failed', error: INTERRUPTED_ERROR });
    // Later runs already succeeded: the old interruption must not overwrite their result.
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000200',
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
    ]);
  });

  it('BB-01 C: a failed state write after the capture is reported, not repeated', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', BODY);
    vi.spyOn(world.store, 'recordSnapshot').mockImplementationOnce(() => {
      throw ioError('write to vmkeep.db failed');
    });

    await world.advanceTo('2025-03-01T00:01:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule.last_error).toMatch(/saving it on the schedule failed \(EIO/);
    expect(schedule.next_run_at).toBe('2025-03-01T00:02:00.000Z');

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
    ]);
    expect(world.snapshots.captureCount('inst_A')).toBe(2);
  });
});

describe('BB-03 downtime', () => {
  it('BB-03: catches up exactly once after downtime, then keeps the original grid', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    await world.advanceTo('2025-03-01T00:02:30Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(2);

    await world.stopServer();
    await world.advanceTo('2025-03-01T03:00:30Z');
    await world.startServer();
    await world.advance(1_000);
    await world.settle();

    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
      'scheduled-20250301-030030',
    ]);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T03:01:00.000Z');

    await world.advanceTo('2025-03-01T03:02:00Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(5);
    expect(world.retentionDeletions()).toEqual([]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });
});
