/**
 * The scheduler loop itself: it sleeps until the next slot, wakes on changes, caps concurrent
 * captures, stops cleanly, and tells what it did through typed events.
 */
import { describe, expect, it } from 'vitest';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');

describe('Scheduler', () => {
  it('sleeps until the earliest slot, however long its poll period, and wakes on a PUT', async () => {
    const world = newWorld({ maxSleepMs: 3_600_000 });
    await world.addInstance('inst_A');
    await world.advance(1_000);
    await world.settle();
    await world.putSchedule('inst_A', { interval: '1s', retention: { max_count: 3 } });
    const started: number[] = [];
    world.scheduler.events.on('run-started', (event) => started.push(event.startedAt - T0));
    const ticks: number[] = [];
    world.scheduler.events.on('tick', (tick) => ticks.push(tick.started));

    await world.advance(3_000);
    expect(started).toEqual([2_000, 3_000, 4_000]);
    // One pass per slot, plus one after each run ends (the instance may be due again): never
    // the hour-long poll period, never a spin.
    expect(ticks.filter((n) => n > 0)).toEqual([1, 1, 1]);
    expect(ticks.length).toBeLessThanOrEqual(7);
  });

  it('captures at most maxConcurrentCaptures guests at once', async () => {
    const world = newWorld({ maxConcurrentCaptures: 2 });
    const ids = ['inst_A', 'inst_B', 'inst_C', 'inst_D'];
    for (const id of ids) {
      await world.addInstance(id);
      world.failCapture(id, { delayMs: 10_000 });
      await world.putSchedule(id, { interval: '1m', retention: { max_count: 3 } });
    }
    await world.advanceTo('2025-03-01T00:01:30Z');

    let running = 0;
    let peak = 0;
    for (const entry of world.snapshots.log) {
      if (entry.op === 'capture') running++;
      if (entry.op === 'capture-done' || entry.op === 'capture-failed') running--;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(2);
    const done = world.snapshots.log.filter((e) => e.op === 'capture-done').map((e) => e.at - T0);
    expect(done).toEqual([70_000, 70_000, 80_000, 80_000]);
    // A run waits for a capture slot before it claims: its name is when it really started.
    expect(await world.scheduledNames('inst_C')).toEqual(['scheduled-20250301-000110']);
  });

  it('reports a run through ordered events', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const seen: string[] = [];
    for (const name of ['run-started', 'retention-deleted', 'run-succeeded'] as const) {
      world.scheduler.events.on(name, () => seen.push(name));
    }
    await world.advanceTo('2025-03-01T00:02:00Z');
    expect(seen).toEqual(['run-started', 'retention-deleted', 'run-succeeded']);
  });

  it('starts nothing after stop, and resolves once the run in flight has finished', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    world.failCapture('inst_A', { delayMs: 30_000 }, 1);
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    await world.advanceTo('2025-03-01T00:01:10Z');

    let stopped = false;
    const stopping = world.scheduler.stop().then(() => {
      stopped = true;
    });
    await world.advance(10_000);
    expect(stopped).toBe(false);
    await world.advance(10_000);
    await stopping;
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);

    await world.advanceTo('2025-03-01T00:05:00Z');
    expect(world.snapshots.captureCount('inst_A')).toBe(1);
    await world.startServer();
  });

  it('tags scheduled snapshots with the metadata and the reserved keys, which win', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 3 },
      metadata: { env: 'prod' },
    });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [snapshot] = await world.listSnapshots('inst_A');
    expect(snapshot?.tags).toEqual({
      env: 'prod',
      'hypeman.scheduled': 'true',
      'hypeman.schedule_instance_id': 'inst_A',
    });
    expect(world.snapshots.snapshots.get(snapshot!.id)?.scheduleRunId).toBe(
      world.store.listRuns('inst_A')[0]?.id,
    );
  });
});
