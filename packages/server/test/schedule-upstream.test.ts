/**
 * hypeman's own schedule tests (lib/instances/snapshot_schedule_test.go, hypeman.md §3.9),
 * ported to the domain: same scenarios, same expectations.
 */
import { describe, expect, it } from 'vitest';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();
const MIN = 60_000;

describe('hypeman upstream schedule scenarios', () => {
  it('round-trips set, get and delete, with next_run_at within 3 s of now + interval', async () => {
    const world = newWorld({ jitter: true, minInterval: '1m' });
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 2 },
    });
    expect(put.status).toBe(200);
    const next = Date.parse(put.body.next_run_at) - world.now();
    expect(next).toBeGreaterThanOrEqual(MIN);
    expect(next).toBeLessThan(MIN + 3_000 + 3_000);

    const got = await world.getSchedule('inst_A');
    expect(got).toEqual({ status: 200, body: put.body });

    expect((await world.deleteSchedule('inst_A')).status).toBe(204);
    expect(await world.getSchedule('inst_A')).toEqual({
      status: 404,
      body: { code: 'not_found', message: 'snapshot schedule not found' },
    });
  });

  it('keeps last_* and created_at when a PUT changes interval, prefix and retention', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const created = await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 2 },
    });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const afterRun = (await world.getSchedule('inst_A')).body;
    expect(afterRun.last_snapshot_id).not.toBeNull();

    await world.advanceTo('2025-03-01T00:01:30Z');
    const updated = await world.putSchedule('inst_A', {
      interval: '2m',
      name_prefix: 'nightly',
      retention: { max_count: 5, max_age: '24h' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      interval: '2m0s',
      name_prefix: 'nightly',
      retention: { max_count: 5, max_age: '24h0m0s' },
      last_run_at: afterRun.last_run_at,
      last_snapshot_id: afterRun.last_snapshot_id,
      last_error: null,
      created_at: created.body.created_at,
      updated_at: '2025-03-01T00:01:30.000Z',
      next_run_at: '2025-03-01T00:03:30.000Z',
    });
  });

  it('makes a Stopped-kind snapshot of a stopped source', async () => {
    const world = newWorld();
    await world.addInstance('inst_A', 'Stopped');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [snapshot] = await world.listSnapshots('inst_A');
    expect(snapshot).toMatchObject({ kind: 'Stopped', name: 'scheduled-20250301-000100' });
  });

  it('prunes the oldest scheduled snapshot beyond max_count and keeps the manual one', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const older = world.snapshots.seedScheduled('inst_A', 'seed-1');
    await world.advance(1_000);
    const newer = world.snapshots.seedScheduled('inst_A', 'seed-2');
    const manual = await world.createSnapshot('inst_A', { name: 'manual' });
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    await world.advance(MIN);
    await world.settle();

    const ids = (await world.listSnapshots('inst_A')).map((s) => s.id);
    const schedule = (await world.getSchedule('inst_A')).body;
    expect(ids).not.toContain(older.id);
    expect(ids).toEqual([newer.id, manual.body.id, schedule.last_snapshot_id]);
    expect(schedule.last_error).toBeNull();
  });

  it('requires retention', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const reply = await world.putSchedule('inst_A', { interval: '1m' });
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe('invalid_request');
  });

  it('rejects a 48-character name_prefix and accepts 47', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const long = await world.putSchedule('inst_A', {
      interval: '1m',
      name_prefix: 'a'.repeat(48),
      retention: { max_count: 1 },
    });
    expect(long.status).toBe(400);
    expect(long.body.message).toMatch(/^name_prefix must be at most 47/);
    const ok = await world.putSchedule('inst_A', {
      interval: '1m',
      name_prefix: 'a'.repeat(47),
      retention: { max_count: 1 },
    });
    expect(ok.status).toBe(200);
  });

  it('keeps an age-policy schedule after its instance is deleted until nothing is left', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_age: '24h' } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [snapshot] = await world.listSnapshots('inst_A');
    await world.deleteInstance('inst_A');

    await world.advanceTo('2025-03-01T00:02:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(200);
    expect(await world.listSnapshots('inst_A')).toHaveLength(1);

    await world.snapshots.delete(snapshot!.id);
    await world.advanceTo('2025-03-01T00:03:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);
  });

  it('removes a count-only schedule on the first run after its instance is deleted', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    await world.deleteInstance('inst_A');
    await world.advanceTo('2025-03-01T00:02:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);
    expect(await world.listSnapshots('inst_A')).toHaveLength(1);
  });

  it('fails each corrupt schedule on its own, naming the problem, while others run', async () => {
    const world = newWorld();
    for (const id of ['inst_A', 'inst_B', 'inst_C']) {
      await world.addInstance(id);
      await world.putSchedule(id, { interval: '1m', retention: { max_count: 2 } });
    }
    world.db
      .prepare("UPDATE snapshot_schedules SET metadata = '{not json' WHERE instance_id IN (?, ?)")
      .run('inst_A', 'inst_B');
    await world.advanceTo('2025-03-01T00:01:00Z');

    for (const id of ['inst_A', 'inst_B']) {
      const schedule = (await world.getSchedule(id)).body;
      expect(schedule.last_error).toMatch(/metadata is not a JSON object/);
      expect(await world.listSnapshots(id)).toEqual([]);
    }
    expect(await world.scheduledNames('inst_C')).toEqual(['scheduled-20250301-000100']);
  });

  it('takes no new snapshot once stopped, even for a run already queued', async () => {
    const world = newWorld({ maxConcurrentCaptures: 1 });
    await world.addInstance('inst_A');
    await world.addInstance('inst_B');
    world.failCapture('inst_A', { delayMs: 10_000 });
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 2 } });
    await world.putSchedule('inst_B', { interval: '1m', retention: { max_count: 2 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    expect(world.scheduler.runningInstances.sort()).toEqual(['inst_A', 'inst_B']);

    const stopped = world.scheduler.stop();
    await world.advance(10_000);
    await stopped;
    expect(world.snapshots.captureCount('inst_B')).toBe(0);
    expect(await world.listSnapshots('inst_A')).toHaveLength(1);
  });

  it('runs a schedule forced due by rewriting next_run_at into the past', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', { interval: '1h', retention: { max_count: 2 } });
    world.store.moveNextRun(
      world.store.get('inst_A')!.scheduleId,
      Date.parse(put.body.next_run_at),
      world.now() - MIN,
      world.now(),
    );
    world.scheduler.wake();
    await world.settle();
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000000']);
    expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T00:59:00.000Z');
  });
});
