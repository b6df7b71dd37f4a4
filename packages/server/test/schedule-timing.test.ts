/**
 * When runs happen: early and late timers, edits, clock jumps, an interval that would spin
 * (cases BB-05, BB-08, BB-31's guard, and hypeman review bug class F).
 */
import { describe, expect, it } from 'vitest';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

describe('BB-05 tick slightly before the due time', () => {
  it('BB-05: neither skips nor doubles a slot around its due time, and never drifts', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 100 } });
    /** A scheduler pass delivered at exactly `at`, as a timer firing a little early or late. */
    const tickAt = async (at: number) => {
      world.clock.set(at);
      world.scheduler.wake();
      await world.settle();
    };

    await tickAt(T0 + MIN - 5);
    expect(await world.scheduledNames('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T00:01:00.000Z');

    await tickAt(T0 + MIN);
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T00:02:00.000Z');

    await tickAt(T0 + MIN + 4);
    expect(await world.scheduledNames('inst_A')).toHaveLength(1);

    for (let k = 2; k <= 60; k++) await tickAt(T0 + k * MIN + 300);
    const names = await world.scheduledNames('inst_A');
    expect(names).toHaveLength(60);
    expect(names[0]).toBe('scheduled-20250301-000100');
    expect(names[1]).toBe('scheduled-20250301-000200');
    expect(names.at(-1)).toBe('scheduled-20250301-010000');
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T01:01:00.000Z');
  });

  it('BB-05: fires on the due millisecond when the timer is on time', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 100 } });
    const started: number[] = [];
    world.scheduler.events.on('run-started', (event) => started.push(event.startedAt));
    await world.advanceTo('2025-03-01T00:05:00Z');
    expect(started).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * MIN));
  });
});

describe('BB-08 editing the schedule', () => {
  it('BB-08: a new interval re-anchors from the edit, with no immediate or retroactive run', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const first = await world.putSchedule('inst_A', {
      interval: '1h',
      retention: { max_count: 5 },
    });
    expect(first.body.next_run_at).toBe('2025-03-01T01:00:00.000Z');

    await world.advanceTo('2025-03-01T00:59:00Z');
    const edit = await world.putSchedule('inst_A', { interval: '2h', retention: { max_count: 5 } });
    expect(edit.body.next_run_at).toBe('2025-03-01T02:59:00.000Z');

    for (const at of ['01:00:00', '02:00:00', '02:58:59']) {
      await world.advanceTo(`2025-03-01T${at}Z`);
      expect(await world.scheduledNames('inst_A')).toEqual([]);
      expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T02:59:00.000Z');
    }
    await world.advanceTo('2025-03-01T02:59:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-025900']);
  });

  it('BB-08: re-applying an identical body keeps next_run_at, so re-applies never postpone', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const body = { interval: '1h', retention: { max_count: 5 } };
    await world.putSchedule('inst_A', body);
    await world.advanceTo('2025-03-01T00:30:00Z');
    const again = await world.putSchedule('inst_A', body);
    expect(again.body.next_run_at).toBe('2025-03-01T01:00:00.000Z');
    expect(again.body.updated_at).toBe('2025-03-01T00:30:00.000Z');
    await world.settle();
    expect(await world.scheduledNames('inst_A')).toEqual([]);

    await world.advanceTo('2025-03-01T01:00:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-010000']);
  });

  it('BB-08: with jitter, re-applying the same schedule lands on the same slot', async () => {
    const world = newWorld({ jitter: true });
    await world.addInstance('inst_A');
    const a = await world.putSchedule('inst_A', { interval: '1h', retention: { max_count: 5 } });
    await world.deleteSchedule('inst_A');
    const b = await world.putSchedule('inst_A', { interval: '1h', retention: { max_count: 5 } });
    expect(b.body.next_run_at).toBe(a.body.next_run_at);
    expect(Date.parse(a.body.next_run_at) - T0).toBeGreaterThan(60 * MIN);
  });
});

describe('clock moving backwards (hypeman review bug class F)', () => {
  it('keeps taking snapshots after the wall clock jumps back, without reusing a slot', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 100 } });
    await world.advanceTo('2025-03-01T00:10:00Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(10);

    world.clock.set('2025-03-01T00:05:30Z');
    world.scheduler.wake();
    await world.settle();
    await world.advanceTo('2025-03-01T00:08:30Z');

    const names = await world.scheduledNames('inst_A');
    expect(names.slice(10)).toEqual([
      'scheduled-20250301-000600-2',
      'scheduled-20250301-000700-2',
      'scheduled-20250301-000800-2',
    ]);
    const slots = world.store.listRuns('inst_A').map((run) => run.scheduledFor);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it('re-arms a schedule stranded far ahead by a jump of hours', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 100 } });
    await world.advanceTo('2025-03-01T02:00:00Z');
    world.clock.set('2025-03-01T00:30:10Z');
    world.scheduler.wake();
    await world.settle();
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T00:31:00.000Z');

    // 00:31:00.000 was run before the jump; the slot is nudged by a millisecond and taken then.
    await world.advanceTo('2025-03-01T00:31:01Z');
    expect((await world.scheduledNames('inst_A')).at(-1)).toBe('scheduled-20250301-003100-2');
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T00:32:00.001Z');
  });
});

describe('clock set back while the server was down', () => {
  it('re-arms stranded schedules when the scheduler starts', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1000 } });
    await world.advanceTo('2025-03-01T03:00:00Z');
    await world.stopServer();
    world.clock.set('2025-03-01T01:00:30Z');
    await world.startServer();
    await world.settle();
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T01:01:00.000Z');
    // Until that run, last_run_at (03:00) is later than next_run_at: a documented limit. The
    // slot ran before the jump, so it is nudged by a millisecond and named with a suffix.
    await world.advanceTo('2025-03-01T01:01:01Z');
    expect((await world.scheduledNames('inst_A')).at(-1)).toBe('scheduled-20250301-010100-2');
  });
});

describe('BB-31 guard: an interval that would spin', () => {
  it('BB-31: a 0s interval written into the database fails once a minute instead of spinning', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    world.db
      .prepare(
        'UPDATE snapshot_schedules SET interval_ns = 0, next_run_at = ? WHERE instance_id = ?',
      )
      .run(world.now(), 'inst_A');
    let ticks = 0;
    world.scheduler.events.on('tick', () => ticks++);

    world.scheduler.wake();
    await world.advance(59_000);
    await world.settle();

    expect(world.snapshots.captureCount('inst_A')).toBe(0);
    expect(world.store.listRuns('inst_A')).toHaveLength(1);
    expect((await world.getSchedule('inst_A')).body.last_error).toMatch(
      /interval 0s is too short to run/,
    );
    // One pass a poll period (1 s), give or take the wake: a spinning loop would make thousands.
    expect(ticks).toBeGreaterThan(50);
    expect(ticks).toBeLessThanOrEqual(62);

    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advance(MIN);
    expect(world.snapshots.captureCount('inst_A')).toBe(1);
  });
});
