/**
 * Runs meeting edits, deletes, hung captures and a second server process (cases BB-09,
 * BB-10, BB-13, harness hook H5).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScheduleStore } from '../src/domain/schedules/schedule-store.js';
import { Scheduler } from '../src/domain/schedules/scheduler.js';
import { openDatabase } from '../src/store/db.js';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

describe('BB-09 PUT during an in-flight run', () => {
  it('BB-09: keeps the edit made while a run was capturing', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    world.failCapture('inst_A', { delayMs: 20_000 }, 1);
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 5 },
      metadata: { tier: 'a' },
    });

    await world.advanceTo('2025-03-01T00:01:05Z');
    expect(world.scheduler.runningInstances).toEqual(['inst_A']);
    const edit = await world.putSchedule('inst_A', {
      interval: '10m',
      retention: { max_count: 2 },
      metadata: { tier: 'b' },
    });
    expect(edit.status).toBe(200);

    await world.advanceTo('2025-03-01T00:01:30Z');
    const [first] = await world.listSnapshots('inst_A');
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      interval: '10m0s',
      retention: { max_count: 2 },
      metadata: { tier: 'b' },
      next_run_at: '2025-03-01T00:11:05.000Z',
      last_snapshot_id: first!.id,
      last_error: null,
    });
    // The run started before the edit, so it carries the configuration it started with.
    expect(first!.tags.tier).toBe('a');

    await world.advanceTo('2025-03-01T00:11:00Z');
    expect(await world.listSnapshots('inst_A')).toHaveLength(1);
    await world.advanceTo('2025-03-01T00:11:10Z');
    const snapshots = await world.listSnapshots('inst_A');
    expect(snapshots.map((s) => [s.name, s.tags.tier])).toEqual([
      ['scheduled-20250301-000100', 'a'],
      ['scheduled-20250301-001105', 'b'],
    ]);
  });
});

describe('BB-10 DELETE during an in-flight run', () => {
  it('BB-10: the schedule stays deleted and nothing is pruned or inherited', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    world.failCapture('inst_A', { delayMs: 20_000 }, 1);
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    world.snapshots.seedScheduled('inst_A', 'older-scheduled');

    await world.advanceTo('2025-03-01T00:01:05Z');
    expect((await world.deleteSchedule('inst_A')).status).toBe(204);
    await world.advanceTo('2025-03-01T00:01:30Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);

    await world.advanceTo('2025-03-01T00:10:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);
    expect(world.snapshots.captureCount('inst_A')).toBe(1);
    // C1 is complete and kept, and the older one survives: no retention without a schedule.
    expect((await world.listSnapshots('inst_A')).map((s) => s.name)).toEqual([
      'older-scheduled',
      'scheduled-20250301-000100',
    ]);

    const recreated = await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 1 },
    });
    expect(recreated.body).toMatchObject({
      created_at: '2025-03-01T00:10:00.000Z',
      next_run_at: '2025-03-01T00:11:00.000Z',
      last_run_at: null,
      last_snapshot_id: null,
      last_error: null,
    });
  });
});

describe('BB-13 a hung hypervisor call', () => {
  it('BB-13: abandons a hung capture at the timeout without delaying other instances', async () => {
    const world = newWorld({ captureTimeoutMs: 2 * MIN });
    await world.addInstance('inst_A');
    await world.addInstance('inst_B');
    world.failCapture('inst_A', { hang: true }, 1);
    const failures: string[] = [];
    world.scheduler.events.on('run-failed', (event) => failures.push(event.error));
    for (const id of ['inst_A', 'inst_B']) {
      await world.putSchedule(id, { interval: '1m', retention: { max_count: 10 } });
    }

    await world.advanceTo('2025-03-01T00:02:59Z');
    expect(world.scheduler.runningInstances).toEqual(['inst_A']);

    await world.advanceTo('2025-03-01T00:03:01Z');
    expect(failures).toEqual([expect.stringContaining('timeout')]);
    const [abandoned] = world.store.listRuns('inst_A').slice(-1);
    expect(abandoned).toMatchObject({
      status: 'failed',
      scheduledFor: T0 + MIN,
      error: expect.stringContaining('timeout'),
    });

    await world.advanceTo('2025-03-01T00:03:10Z');
    const probe = await world.createSnapshot('inst_A', { name: 'probe' });
    expect(probe.status).toBe(201);

    await world.advanceTo('2025-03-01T00:06:00Z');
    await world.settle();
    // inst_B ran on every slot, on time, while inst_A was stuck.
    const bCreated = (await world.listSnapshots('inst_B')).map((s) => Date.parse(s.created_at));
    expect(bCreated).toEqual([1, 2, 3, 4, 5, 6].map((k) => T0 + k * MIN));
    // inst_A took nothing for the hung slot, caught up once when it was freed, then ran on time.
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
      'scheduled-20250301-000600',
    ]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });
});

describe('H5 two schedulers on one database', () => {
  it('never takes the same slot twice across two server processes', async () => {
    const world = newWorld({ maxConcurrentCaptures: 1 });
    const instances = ['inst_A', 'inst_B', 'inst_C'];
    for (const [i, id] of instances.entries()) {
      await world.addInstance(id);
      // Captures that take a while keep instances queued, so both schedulers find them due.
      world.failCapture(id, { delayMs: 5_000 * (i + 1) });
      await world.putSchedule(id, { interval: '1m', retention: { max_count: 100 } });
    }
    const secondDb = openDatabase(join(world.dir, 'vmkeep.db'));
    const second = new Scheduler({
      store: new ScheduleStore(secondDb),
      clock: world.clock,
      instances: world.instances,
      snapshots: world.snapshots,
      maxConcurrentCaptures: 1,
      maxSleepMs: 1_000,
      leaseOwner: 'second-server',
    });
    const startedBy = new Map<string, number>();
    const count = (who: string) => () => startedBy.set(who, (startedBy.get(who) ?? 0) + 1);
    world.scheduler.events.on('run-started', count('first'));
    second.events.on('run-started', count('second'));
    second.start();

    try {
      await world.advanceTo('2025-03-01T00:10:00Z');
      // Both stop; captures already running need fake time to finish.
      const stopped = Promise.all([world.scheduler.stop(), second.stop()]);
      await world.advance(60_000);
      await stopped;
    } finally {
      await second.stop();
      secondDb.close();
    }

    expect(startedBy.get('first')).toBeGreaterThan(0);
    expect(startedBy.get('second')).toBeGreaterThan(0);
    for (const id of instances) {
      const runs = world.store.listRuns(id);
      const slots = runs.map((run) => run.scheduledFor);
      expect(new Set(slots).size, `${id}: one run per slot`).toBe(slots.length);
      const names = await world.scheduledNames(id);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBe(runs.filter((run) => run.status === 'succeeded').length);
    }
  });
});
