/**
 * Retention end to end through the scheduler: what is pruned, what never is, and what a
 * failure leaves behind (cases BB-14, BB-15, BB-18, BB-20, BB-22, BB-24).
 */
import { describe, expect, it } from 'vitest';
import { ioError } from './support/schedule-fakes.js';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

describe('BB-14 retention orders by creation, not by name', () => {
  it('BB-14: after a prefix change, prunes the oldest snapshots whatever their names', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const body = (prefix: string) => ({
      interval: '1m',
      name_prefix: prefix,
      retention: { max_count: 3 },
    });
    await world.putSchedule('inst_A', body('zz-nightly'));
    await world.advanceTo('2025-03-01T00:03:30Z');
    // Same interval, so the cadence is kept (BB-08): the next runs are 4m and 5m, not 4m30s.
    const edit = await world.putSchedule('inst_A', body('aa-nightly'));
    expect(edit.body.next_run_at).toBe('2025-03-01T00:04:00.000Z');
    await world.advanceTo('2025-03-01T00:05:30Z');

    expect(await world.scheduledNames('inst_A')).toEqual([
      'zz-nightly-20250301-000300',
      'aa-nightly-20250301-000400',
      'aa-nightly-20250301-000500',
    ]);
    const newest = (await world.listSnapshots('inst_A')).at(-1);
    expect((await world.getSchedule('inst_A')).body.last_snapshot_id).toBe(newest?.id);
  });
});

describe('BB-15 manual snapshots that look scheduled', () => {
  it('BB-15: never deletes manual snapshots, whatever their names or tags', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.addInstance('inst_B');
    const m1 = await world.createSnapshot('inst_A', { name: 'scheduled-20250301-000030' });
    const body = { interval: '1m', retention: { max_count: 1 }, metadata: { env: 'prod' } };
    await world.putSchedule('inst_A', body);
    await world.putSchedule('inst_B', body);
    await world.advanceTo('2025-03-01T00:00:10Z');
    const m2 = await world.createSnapshot('inst_A', {
      name: 'nightly-manual',
      tags: { env: 'prod' },
    });
    const m3 = await world.createSnapshot('inst_B', { name: 'manual-b' });

    await world.advanceTo('2025-03-01T00:04:05Z');
    for (const manual of [m1, m2, m3]) {
      expect((await world.getSnapshot(manual.body.id)).body).toEqual(manual.body);
    }
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000400']);
    expect(await world.scheduledNames('inst_B')).toEqual(['scheduled-20250301-000400']);
    for (const entry of world.snapshots.log.filter((e) => e.op === 'delete')) {
      expect(entry.provenance).toBe(entry.instanceId);
    }
  });
});

describe('BB-18 failed captures', () => {
  it('BB-18: prunes nothing while captures fail, and recovers on the next good run', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    for (const call of [3, 4, 5]) {
      world.failCapture('inst_A', { fail: new Error('vm.snapshot returned HTTP 500') }, call);
    }
    const good = () => world.scheduledNames('inst_A');
    for (let minute = 2; minute <= 5; minute++) {
      await world.advanceTo(T0 + minute * MIN);
      expect((await good()).length, `at ${minute}m`).toBe(2);
    }

    await world.advanceTo('2025-03-01T00:05:30Z');
    expect(await good()).toEqual(['scheduled-20250301-000100', 'scheduled-20250301-000200']);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_error: 'capture failed: vm.snapshot returned HTTP 500',
      last_run_at: '2025-03-01T00:05:00.000Z',
      next_run_at: '2025-03-01T00:06:00.000Z',
      last_snapshot_id: null,
    });

    await world.advanceTo('2025-03-01T00:06:00Z');
    const names = await good();
    expect(names).toEqual(['scheduled-20250301-000200', 'scheduled-20250301-000600']);
    const newest = (await world.listSnapshots('inst_A')).at(-1);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_error: null,
      last_snapshot_id: newest?.id,
    });
  });

  it('BB-18: fails the run without capturing when the instance is in a state it cannot capture', async () => {
    const world = newWorld();
    await world.addInstance('inst_A', 'Initializing');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    expect(await world.listSnapshots('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).body.last_error).toMatch(/got Initializing/);
  });
});

describe('BB-20 max_count and max_age compose', () => {
  it('BB-20: deletes the union of both rules, and manual snapshots use up no slots', async () => {
    const world = newWorld();
    for (const id of ['inst_A', 'inst_B', 'inst_C']) await world.addInstance(id);
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 4, max_age: '150s' },
    });
    await world.putSchedule('inst_B', {
      interval: '1m',
      retention: { max_count: 2, max_age: '10m' },
    });
    await world.putSchedule('inst_C', { interval: '1m', retention: { max_count: 2 } });
    await world.advanceTo('2025-03-01T00:00:30Z');
    await world.createSnapshot('inst_C', { name: 'm1' });
    await world.advanceTo('2025-03-01T00:01:30Z');
    await world.createSnapshot('inst_C', { name: 'm2' });

    await world.advanceTo('2025-03-01T00:03:00Z');
    await world.deleteSchedule('inst_C');
    expect((await world.listSnapshots('inst_C')).map((s) => s.name)).toEqual([
      'm1',
      'm2',
      'scheduled-20250301-000200',
      'scheduled-20250301-000300',
    ]);

    await world.advanceTo('2025-03-01T00:05:00Z');
    const minutes = async (id: string) =>
      (await world.scheduledNames(id)).map((name) => name?.slice(-6));
    expect(await minutes('inst_A')).toEqual(['000300', '000400', '000500']);
    expect(await minutes('inst_B')).toEqual(['000400', '000500']);
  });
});

describe('BB-22 partial delete failure', () => {
  it('BB-22: reports a failed delete, keeps the snapshot intact, and retries next run', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [s1] = await world.listSnapshots('inst_A');
    world.failDelete(s1!.id, ioError(`unlink snapshots/${s1!.id}/memory`));

    await world.advanceTo('2025-03-01T00:02:10Z');
    const [, s2] = await world.listSnapshots('inst_A');
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule.last_snapshot_id).toBe(s2?.id);
    expect(schedule.last_error).toContain(`delete snapshot ${s1!.id}: EIO`);
    expect((await world.getSnapshot(s1!.id)).status).toBe(200);
    const [run] = world.store.listRuns('inst_A');
    expect(run).toMatchObject({ status: 'succeeded', snapshotId: s2?.id, deletedSnapshotIds: [] });

    await world.advanceTo('2025-03-01T00:03:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000300']);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    expect(world.store.listRuns('inst_A')[0]?.deletedSnapshotIds.sort()).toEqual(
      [s1!.id, s2!.id].sort(),
    );
  });

  it('counts a snapshot someone else deleted meanwhile as deleted, without an error', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [s1] = await world.listSnapshots('inst_A');
    // The user deletes S1 between retention's list and its delete.
    const listScheduled = world.snapshots.listScheduled.bind(world.snapshots);
    world.snapshots.listScheduled = (id) => {
      const listed = listScheduled(id);
      world.snapshots.snapshots.delete(s1!.id);
      return listed;
    };
    await world.advanceTo('2025-03-01T00:02:00Z');
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    expect(world.store.listRuns('inst_A')[0]?.deletedSnapshotIds).toEqual([s1!.id]);
  });
});

describe('BB-24 name collisions', () => {
  it('BB-24: never overwrites a snapshot holding the name a run wants; takes the next free one', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.addInstance('inst_B');
    const body = { interval: '1m', retention: { max_count: 5 } };
    await world.putSchedule('inst_A', body);
    await world.putSchedule('inst_B', body);
    await world.advanceTo('2025-03-01T00:00:30Z');
    const m1 = await world.createSnapshot('inst_A', { name: 'scheduled-20250301-000100' });
    expect(m1.status).toBe(201);

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect((await world.getSnapshot(m1.body.id)).body).toEqual(m1.body);
    const slot1 = (await world.listSnapshots('inst_A')).at(-1);
    expect(slot1).toMatchObject({
      name: 'scheduled-20250301-000100-2',
      schedule: { instance_id: 'inst_A' },
    });
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_snapshot_id: slot1?.id,
      last_error: null,
    });
    // Names are unique per source instance: inst_B takes the plain name.
    expect(await world.scheduledNames('inst_B')).toEqual(['scheduled-20250301-000100']);

    await world.advanceTo('2025-03-01T00:02:00Z');
    expect((await world.listSnapshots('inst_A')).map((s) => s.name)).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000100-2',
      'scheduled-20250301-000200',
    ]);
  });

  it('BB-24: fails the run, naming the conflict, when every candidate name is taken', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    const base = 'scheduled-20250301-000100';
    for (const name of [base, `${base}-2`, `${base}-3`, `${base}-4`, `${base}-5`]) {
      await world.createSnapshot('inst_A', { name });
    }
    await world.advanceTo('2025-03-01T00:01:00Z');
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule.last_snapshot_id).toBeNull();
    expect(schedule.last_error).toMatch(
      /every name from scheduled-20250301-000100 to .*-5 is taken/,
    );

    await world.advanceTo('2025-03-01T00:02:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000200']);
  });

  it('BB-24: validates name_prefix length and characters', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const put = (prefix: string) =>
      world.putSchedule('inst_A', {
        interval: '1m',
        name_prefix: prefix,
        retention: { max_count: 5 },
      });
    expect((await put('p'.repeat(47))).status).toBe(200);
    expect((await put('p'.repeat(48))).status).toBe(400);
    const bad = await put('bad/prefix');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_request');
    expect((await world.getSchedule('inst_A')).body.name_prefix).toBe('p'.repeat(47));
  });
});
