/**
 * Crashes, restarts and downtime of a whole server on one data dir: a slot is never taken
 * twice, a lost slot is never shown as a clean run, an outage ends in exactly one catch-up run,
 * and a stored zero survives (cases BB-01, BB-03, BB-17 a). A crash is `world.kill()` at the
 * named point: the server's database is closed there, so it writes nothing more, and a new
 * `createServices` starts on the same data dir, reconciles it and re-attaches the guests.
 */
import { describe, expect, it, vi } from 'vitest';
import { ScheduleStore } from '../src/domain/schedules/schedule-store.js';
import { INTERRUPTED_ERROR } from '../src/domain/schedules/scheduler.js';
import { useHttpScheduleWorld } from './support/http-schedule-hooks.js';
import type { HttpScheduleWorld } from './support/http-schedule-world.js';
import { ioError } from './support/schedule-fakes.js';

const newWorld = useHttpScheduleWorld();
const BODY = { interval: '1m', retention: { max_count: 10 } };

async function scheduled(world: HttpScheduleWorld): Promise<HttpScheduleWorld> {
  await world.addInstance('inst_A');
  await world.putSchedule('inst_A', BODY);
  return world;
}

describe('BB-01 capture committed but schedule state not yet saved', () => {
  it('BB-01 A: a crash after the capture committed never yields a second snapshot for the slot', async () => {
    const world = await scheduled(await newWorld());
    // The crash point after_capture_before_state_save: the scheduled snapshot is ready and
    // published, the schedule has not recorded it yet.
    world.services.domain.events.on((event) => {
      if (event.type === 'snapshot.created' && world.provenance.get(event.snapshotId)) {
        world.kill();
      }
    });

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect(world.running).toBe(false);
    await world.advanceTo('2025-03-01T00:01:10Z');
    await world.startServer();
    await world.advanceTo('2025-03-01T00:01:50Z');

    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      next_run_at: '2025-03-01T00:02:00.000Z',
      last_run_at: '2025-03-01T00:01:00.000Z',
      last_snapshot_id: null,
      last_error: INTERRUPTED_ERROR,
    });
    // The guest kept running through the crash and was re-attached, not rebooted.
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
    expect(world.driver.calls.kinds(world.id('inst_A'))[0]).toBe('attach');

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
    ]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });

  it('BB-01 B: a crash between the state save and the capture loses the slot visibly', async () => {
    const world = await scheduled(await newWorld());
    world.services.scheduler.events.on('run-started', () => world.kill());

    await world.advanceTo('2025-03-01T00:01:10Z');
    await world.startServer();
    await world.advanceTo('2025-03-01T00:01:50Z');

    expect(await world.listSnapshots('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      next_run_at: '2025-03-01T00:02:00.000Z',
      last_run_at: '2025-03-01T00:01:00.000Z',
      last_snapshot_id: null,
      last_error: INTERRUPTED_ERROR,
    });
    // Nothing was half-taken: no pause, no capture, nothing left on disk (I2 after the case).
    expect(world.drivers[0]?.calls.kinds(world.id('inst_A'))).toEqual(['start']);

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000200']);
  });

  it('BB-01 C: a failed state write after the capture is reported, not repeated', async () => {
    const world = await scheduled(await newWorld());
    const write = vi.spyOn(ScheduleStore.prototype, 'recordSnapshot').mockImplementationOnce(() => {
      throw ioError('write to vmkeep.db failed');
    });
    try {
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
      const captures = world.driver.calls.kinds(world.id('inst_A'));
      expect(captures.filter((kind) => kind === 'snapshot-begin')).toHaveLength(2);
      expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    } finally {
      write.mockRestore();
    }
  });
});

describe('BB-03 downtime', () => {
  it('BB-03: catches up exactly once after three hours down, then keeps the original grid', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    await world.advanceTo('2025-03-01T00:02:30Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(2);

    await world.stopServer();
    await world.advanceTo('2025-03-01T03:00:30Z');
    await world.startServer();
    await world.advance(1_000);

    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
      'scheduled-20250301-030030',
    ]);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T03:01:00.000Z');

    await world.advanceTo('2025-03-01T03:02:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
      'scheduled-20250301-030030',
      'scheduled-20250301-030100',
      'scheduled-20250301-030200',
    ]);
    expect(world.retentionDeletions()).toEqual([]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });
});

describe('BB-17 a zero that survives a restart', () => {
  it('BB-17 a: keeps max_count 0 as "no count rule" across GET and restart, pruning by age only', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 0, max_age: '3m' },
    });
    const expected = { max_count: 0, max_age: '3m0s' };
    expect(put.body.retention).toEqual(expected);
    expect((await world.getSchedule('inst_A')).body.retention).toEqual(expected);

    await world.restart();
    expect((await world.getSchedule('inst_A')).body.retention).toEqual(expected);

    await world.advanceTo('2025-03-01T00:06:05Z');
    // 00:03 sits exactly on the 00:06 − 3m cutoff and is kept; no count rule applies.
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
      'scheduled-20250301-000600',
    ]);
    expect((await world.getSchedule('inst_A')).body.retention).toEqual(expected);
  });
});
