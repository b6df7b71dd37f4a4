/**
 * A schedule whose instance is deleted (case BB-12, design 1: the schedule keeps pruning, and
 * GET and DELETE keep working, until it retires itself).
 */
import { describe, expect, it } from 'vitest';
import { useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld();

describe('BB-12 deleted source instance', () => {
  it('BB-12 A: a count-only schedule converges and retires on the first run after the delete', async () => {
    const world = newWorld({ maxSleepMs: 5_000 });
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    await world.advanceTo('2025-03-01T00:05:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
    ]);

    await world.deleteInstance('inst_A');
    const removed: string[] = [];
    const startedAfter: number[] = [];
    world.scheduler.events.on('schedule-removed', (event) => removed.push(event.reason));
    world.scheduler.events.on('run-started', (event) => startedAfter.push(event.startedAt));

    await world.advanceTo('2025-03-01T00:06:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);
    expect(removed).toEqual(['count retention converged']);

    await world.advanceTo('2025-03-01T02:00:00Z');
    expect(startedAfter).toEqual([Date.parse('2025-03-01T00:06:00Z')]);
    expect(await world.scheduledNames('inst_A')).toHaveLength(3);
  });

  it('BB-12 B: the schedule of a deleted instance can be read, and deleting it stops pruning', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 0, max_age: '10m' },
    });
    await world.advanceTo('2025-03-01T00:05:30Z');
    await world.deleteInstance('inst_A');

    await world.advanceTo('2025-03-01T00:08:00Z');
    const seen = await world.getSchedule('inst_A');
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({
      instance_id: 'inst_A',
      last_run_at: '2025-03-01T00:08:00.000Z',
      last_snapshot_id: null,
      last_error: null,
      next_run_at: '2025-03-01T00:09:00.000Z',
    });
    expect((await world.deleteSchedule('inst_A')).status).toBe(204);

    await world.advanceTo('2025-03-01T00:30:00Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(5);
    expect(world.retentionDeletions()).toEqual([]);
  });

  it('BB-12 B2: left alone, age retention runs out and the schedule removes itself', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 0, max_age: '10m' },
    });
    await world.advanceTo('2025-03-01T00:05:30Z');
    await world.deleteInstance('inst_A');

    await world.advanceTo('2025-03-01T00:11:00Z');
    // 00:01 sits exactly on the 00:11 cutoff and stays.
    expect(await world.scheduledNames('inst_A')).toHaveLength(5);
    await world.advanceTo('2025-03-01T00:13:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
    ]);
    await world.advanceTo('2025-03-01T00:15:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000500']);
    expect((await world.getSchedule('inst_A')).status).toBe(200);

    await world.advanceTo('2025-03-01T00:16:00Z');
    expect(await world.scheduledNames('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).status).toBe(404);
    await world.advanceTo('2025-03-01T00:30:00Z');
    expect(world.store.listRuns('inst_A')[0]?.startedAt).toBe(Date.parse('2025-03-01T00:16:00Z'));
  });

  it('keeps a deleted instance’s schedule while a retention delete fails', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_age: '2m' } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    const [only] = await world.listSnapshots('inst_A');
    await world.deleteInstance('inst_A');
    world.failDelete(only!.id, new Error('EIO: payload busy'));
    const failures: string[] = [];
    world.scheduler.events.on('run-failed', (event) => failures.push(event.error));

    // 00:04 is the first run where the 00:01 snapshot is strictly older than max_age.
    await world.advanceTo('2025-03-01T00:04:00Z');
    expect(failures).toEqual([`retention: delete snapshot ${only!.id}: EIO: payload busy`]);
    expect(await world.listSnapshots('inst_A')).toHaveLength(1);
    expect((await world.getSchedule('inst_A')).body.last_error).toContain('EIO: payload busy');

    await world.advanceTo('2025-03-01T00:05:00Z');
    expect(await world.listSnapshots('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).status).toBe(404);
  });

  it('refuses to create a schedule for an instance that does not exist', async () => {
    const world = newWorld();
    const reply = await world.putSchedule('inst_gone', {
      interval: '1m',
      retention: { max_count: 1 },
    });
    expect(reply).toEqual({
      status: 404,
      body: { code: 'not_found', message: 'instance not found' },
    });
  });
});
