/**
 * Retention over a whole server: what is pruned, what never is, and what a failed capture, a
 * failed payload removal or a taken name leaves behind (cases BB-14, BB-15, BB-18, BB-20,
 * BB-22, BB-24).
 */
import { describe, expect, it } from 'vitest';
import { scanOrphans } from '../src/domain/reconcile.js';
import { useHttpScheduleWorld } from './support/http-schedule-hooks.js';
import { ioError } from './support/schedule-fakes.js';

const newWorld = useHttpScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

describe('BB-14 retention orders by creation, not by name', () => {
  it('BB-14: after a prefix change, prunes the oldest snapshots whatever their names', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const body = (prefix: string) => ({
      interval: '1m',
      name_prefix: prefix,
      retention: { max_count: 3 },
    });
    await world.putSchedule('inst_A', body('zz-nightly'));
    await world.advanceTo('2025-03-01T00:03:30Z');
    // Same interval, so the cadence is kept (BB-08): the next runs are 4m and 5m.
    expect((await world.putSchedule('inst_A', body('aa-nightly'))).body.next_run_at).toBe(
      '2025-03-01T00:04:00.000Z',
    );
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
    const world = await newWorld();
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
    // Provenance cannot be forged through user tags.
    const forged = await world.createSnapshot('inst_A', {
      name: 'forged',
      tags: { 'hypeman.scheduled': 'true', 'hypeman.schedule_instance_id': world.id('inst_A') },
    });
    expect(forged).toMatchObject({ status: 400, body: { code: 'invalid_request' } });

    await world.advanceTo('2025-03-01T00:04:05Z');
    for (const manual of [m1, m2, m3]) {
      expect((await world.getSnapshot(manual.body.id)).body).toEqual(manual.body);
    }
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000400']);
    expect(await world.scheduledNames('inst_B')).toEqual(['scheduled-20250301-000400']);
    const deletedOf = (alias: string) =>
      world.retentionDeletions().filter((d) => d.provenance === world.id(alias)).length;
    expect([deletedOf('inst_A'), deletedOf('inst_B')]).toEqual([3, 3]);
  });
});

describe('BB-18 failed captures', () => {
  it('BB-18: prunes nothing while captures fail, resumes the guest, and recovers', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    for (const call of [3, 4, 5]) {
      world.failCapture('inst_A', { fail: new Error('vm.snapshot returned HTTP 500') }, call);
    }
    for (let minute = 2; minute <= 5; minute++) {
      await world.advanceTo(T0 + minute * MIN);
      expect((await world.scheduledNames('inst_A')).length, `at ${minute}m`).toBe(2);
    }

    await world.advanceTo('2025-03-01T00:05:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
    ]);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_error: 'capture failed: mock snapshot failed: vm.snapshot returned HTTP 500',
      last_run_at: '2025-03-01T00:05:00.000Z',
      next_run_at: '2025-03-01T00:06:00.000Z',
      last_snapshot_id: null,
    });
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
    const failed = world.driver.calls
      .entries(world.id('inst_A'))
      .filter((e) => e.kind === 'snapshot-failed');
    expect(failed.map((e) => e.at)).toEqual([3, 4, 5].map((k) => T0 + k * MIN));

    await world.advanceTo('2025-03-01T00:06:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000200',
      'scheduled-20250301-000600',
    ]);
    const newest = (await world.listSnapshots('inst_A')).at(-1);
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_error: null,
      last_snapshot_id: newest?.id,
    });
  });
});

describe('BB-20 max_count and max_age compose', () => {
  it('BB-20: deletes the union of both rules, and manual snapshots use up no slots', async () => {
    const world = await newWorld();
    for (const alias of ['inst_A', 'inst_B', 'inst_C']) await world.addInstance(alias);
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
    const minutes = async (alias: string) =>
      (await world.scheduledNames(alias)).map((name) => name?.slice(-6));
    expect(await minutes('inst_A')).toEqual(['000300', '000400', '000500']);
    expect(await minutes('inst_B')).toEqual(['000400', '000500']);
  });
});

describe('BB-22 partial delete failure', () => {
  it('BB-22: a payload that cannot be removed stays whole and listed, and goes next run', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [s1] = await world.listSnapshots('inst_A');
    world.failDelete(s1!.id, ioError(`rm snapshots/.del-${s1!.id}/memory.bin`));

    await world.advanceTo('2025-03-01T00:02:10Z');
    const [, s2] = await world.listSnapshots('inst_A');
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule.last_snapshot_id).toBe(s2?.id);
    expect(schedule.last_error).toContain(`delete snapshot ${s1!.id}: EIO`);
    expect((await world.getSnapshot(s1!.id)).status).toBe(200);
    expect(await scanOrphans(world.services.domain)).toEqual([]);

    await world.advanceTo('2025-03-01T00:03:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000300']);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    expect((await world.getSnapshot(s1!.id)).status).toBe(404);
  });
});

describe('BB-24 name collisions', () => {
  it('BB-24: never overwrites a snapshot holding the name a run wants; takes the next free one', async () => {
    const world = await newWorld();
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
      schedule: { instance_id: world.id('inst_A') },
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

  it('BB-24: validates name_prefix length and characters at the API', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const put = (prefix: string) =>
      world.putSchedule('inst_A', {
        interval: '1m',
        name_prefix: prefix,
        retention: { max_count: 5 },
      });
    expect((await put('p'.repeat(47))).status).toBe(200);
    for (const bad of ['p'.repeat(48), 'bad/prefix']) {
      expect(await put(bad)).toMatchObject({
        status: 400,
        body: { code: 'invalid_request', message: /name_prefix/ },
      });
    }
    expect((await world.getSchedule('inst_A')).body.name_prefix).toBe('p'.repeat(47));
  });
});

describe('pins that land while retention runs', () => {
  it('keeps a snapshot pinned after retention planned its deletion', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 10 } });
    await world.advanceTo('2025-03-01T00:03:30Z');
    const [s1, s2, s3] = (await world.listSnapshots('inst_A')).map((s) => s.id);
    // Same interval, so the 4m run still comes; it must prune three snapshots.
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });

    // As retention deletes its first, a user pins the other two. The pins take the snapshots'
    // locks first, so retention's deletes find them pinned.
    const pins: Promise<unknown>[] = [];
    world.services.scheduler.events.on('retention-deleted', (event) => {
      if (pins.length > 0) return;
      for (const id of [s1, s2, s3]) {
        if (id !== event.snapshotId)
          pins.push(world.services.snapshots.patch(id!, { pinned: true }));
      }
    });
    await world.advanceTo('2025-03-01T00:04:30Z');
    await Promise.all(pins);

    const left = (await world.listSnapshots('inst_A')).map((s) => s.id);
    const pinned = [s1, s2, s3].filter((id) => left.includes(id!));
    expect(pins).toHaveLength(2);
    expect(pinned).toHaveLength(2);
    for (const id of pinned) expect((await world.getSnapshot(id!)).body.pinned).toBe(true);
    expect(left).toHaveLength(3);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });
});

describe('tags on a scheduled snapshot', () => {
  it('keeps the two provenance tags and takes no more user tags than fit beside them', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    await world.advanceTo('2025-03-01T00:01:30Z');
    const [scheduled] = await world.listSnapshots('inst_A');
    const tags = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

    const tooMany = await world.request('PATCH', `/snapshots/${scheduled!.id}`, { tags: tags(49) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/keeps 2 server tags, so at most 48 of yours fit/);
    const fits = await world.request('PATCH', `/snapshots/${scheduled!.id}`, { tags: tags(48) });
    expect(fits.status).toBe(200);
    expect(Object.keys(fits.body.tags)).toHaveLength(50);
    expect(fits.body.tags['hypeman.scheduled']).toBe('true');
  });
});

describe('expires_at', () => {
  it('is created_at + max_age for a scheduled snapshot, and null where no age rule applies', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const manual = await world.createSnapshot('inst_A', { name: 'manual' });
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 5, max_age: '1h30m' },
    });
    await world.advanceTo('2025-03-01T00:02:30Z');
    const [first, second] = (await world.listSnapshots('inst_A')).filter((s) => s.schedule);
    const expiry = async (id: string) => (await world.getSnapshot(id)).body.expires_at;

    expect(await expiry(first!.id)).toBe('2025-03-01T01:31:00.000Z');
    expect(await expiry(second!.id)).toBe('2025-03-01T01:32:00.000Z');
    expect(await expiry(manual.body.id)).toBeNull();
    await world.request('PATCH', `/snapshots/${first!.id}`, { pinned: true });
    expect(await expiry(first!.id)).toBeNull();
    // Count rules give no date; without a schedule nothing prunes.
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    expect(await expiry(second!.id)).toBeNull();
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_age: '2h' } });
    expect(await expiry(second!.id)).toBe('2025-03-01T02:02:00.000Z');
    await world.deleteSchedule('inst_A');
    expect(await expiry(second!.id)).toBeNull();
  });
});
