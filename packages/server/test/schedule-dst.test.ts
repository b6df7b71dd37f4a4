/**
 * Case BB-06: daylight-saving changes do not touch duration intervals. This file runs with the
 * process in America/New_York, where the clocks change, to show no code path uses local time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useScheduleWorld } from './support/schedule-world.js';

const savedTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'America/New_York';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

const newWorld = useScheduleWorld();
const HALF_HOUR = 30 * 60_000;

async function runAcross(start: string, end: string, instanceId: string) {
  const world = newWorld({ start });
  await world.addInstance(instanceId);
  let busyTicks = 0;
  world.scheduler.events.on('tick', (tick) => {
    if (tick.started > 0) busyTicks++;
  });
  const put = await world.putSchedule(instanceId, {
    interval: '30m',
    retention: { max_count: 50 },
  });
  await world.advanceTo(end);
  await world.settle();
  const snapshots = (await world.listSnapshots(instanceId)).filter((s) => s.schedule);
  return { world, put, snapshots, busyTicks };
}

describe('BB-06 DST transitions', () => {
  it('runs in a zone that changes its clocks', () => {
    expect(new Date('2025-11-02T05:15:00Z').getHours()).toBe(1);
    expect(new Date('2025-11-02T06:15:00Z').getHours()).toBe(1);
    expect(new Date('2025-03-09T07:15:00Z').getHours()).toBe(3);
  });

  it('BB-06: takes every 30m slot exactly once across the fall-back hour', async () => {
    const { world, put, snapshots, busyTicks } = await runAcross(
      '2025-11-02T04:45:00Z',
      '2025-11-02T07:15:30Z',
      'inst_A',
    );
    expect(put.body.next_run_at).toBe('2025-11-02T05:15:00.000Z');
    expect(snapshots.map((s) => s.name)).toEqual([
      'scheduled-20251102-051500',
      'scheduled-20251102-054500',
      'scheduled-20251102-061500',
      'scheduled-20251102-064500',
      'scheduled-20251102-071500',
    ]);
    const created = snapshots.map((s) => Date.parse(s.created_at));
    expect(created.slice(1).map((t, i) => t - created[i]!)).toEqual([
      HALF_HOUR,
      HALF_HOUR,
      HALF_HOUR,
      HALF_HOUR,
    ]);
    for (const s of snapshots) expect(s.created_at).toMatch(/Z$/);
    expect(busyTicks).toBeLessThanOrEqual(snapshots.length);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-11-02T07:45:00.000Z');
  });

  it('BB-06: takes every 30m slot exactly once across the spring-forward hour', async () => {
    const { snapshots, busyTicks } = await runAcross(
      '2025-03-09T06:15:00Z',
      '2025-03-09T08:15:30Z',
      'inst_B',
    );
    expect(snapshots.map((s) => s.created_at)).toEqual([
      '2025-03-09T06:45:00.000Z',
      '2025-03-09T07:15:00.000Z',
      '2025-03-09T07:45:00.000Z',
      '2025-03-09T08:15:00.000Z',
    ]);
    expect(snapshots.map((s) => s.name?.slice(-6))).toEqual([
      '064500',
      '071500',
      '074500',
      '081500',
    ]);
    expect(busyTicks).toBeLessThanOrEqual(snapshots.length);
  });
});
