/**
 * When runs happen, over a whole server: early and late timers, edits and deletes while a
 * capture is in flight, and a hypervisor call that never returns (cases BB-05, BB-08, BB-09,
 * BB-10, BB-13).
 */
import { describe, expect, it } from 'vitest';
import { useHttpScheduleWorld } from './support/http-schedule-hooks.js';

const newWorld = useHttpScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

describe('BB-05 tick slightly before the due time', () => {
  it('BB-05: neither skips nor doubles a slot around its due time, and never drifts', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 100 } });
    /** A scheduler pass at exactly `at`, as a timer firing a little early or late. */
    const tickAt = async (at: number) => {
      world.clock.set(at);
      world.services.scheduler.wake();
      await world.settle();
    };
    const nextRunAt = async () => (await world.getSchedule('inst_A')).body.next_run_at;

    await tickAt(T0 + MIN - 5);
    expect(await world.scheduledNames('inst_A')).toEqual([]);
    expect(await nextRunAt()).toBe('2025-03-01T00:01:00.000Z');

    await tickAt(T0 + MIN);
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-000100']);
    expect(await nextRunAt()).toBe('2025-03-01T00:02:00.000Z');

    await tickAt(T0 + MIN + 4);
    expect(await world.scheduledNames('inst_A')).toHaveLength(1);

    for (let k = 2; k <= 60; k++) await tickAt(T0 + k * MIN + 300);
    const names = await world.scheduledNames('inst_A');
    expect(names).toHaveLength(60);
    expect(names.slice(0, 2)).toEqual(['scheduled-20250301-000100', 'scheduled-20250301-000200']);
    expect(names.at(-1)).toBe('scheduled-20250301-010000');
    expect(await nextRunAt()).toBe('2025-03-01T01:01:00.000Z');
  });
});

describe('BB-08 editing the schedule', () => {
  it('BB-08: a new interval re-anchors from the edit, with no immediate or retroactive run', async () => {
    const world = await newWorld();
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
      expect(await world.listSnapshots('inst_A')).toEqual([]);
      expect((await world.getSchedule('inst_A')).body.next_run_at).toBe('2025-03-01T02:59:00.000Z');
    }
    await world.advanceTo('2025-03-01T02:59:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-025900']);
  });

  it('BB-08: re-applying an identical body keeps next_run_at, so re-applies never postpone', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const body = { interval: '1h', retention: { max_count: 5 } };
    await world.putSchedule('inst_A', body);
    await world.advanceTo('2025-03-01T00:30:00Z');
    const again = await world.putSchedule('inst_A', body);
    expect(again.body).toMatchObject({
      next_run_at: '2025-03-01T01:00:00.000Z',
      updated_at: '2025-03-01T00:30:00.000Z',
    });
    await world.settle();
    expect(await world.listSnapshots('inst_A')).toEqual([]);

    await world.advanceTo('2025-03-01T01:00:30Z');
    expect(await world.scheduledNames('inst_A')).toEqual(['scheduled-20250301-010000']);
  });
});

describe('BB-09 PUT during an in-flight run', () => {
  it('BB-09: answers the edit at once and keeps it after the run that was capturing', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    world.failCapture('inst_A', { delayMs: 20_000 }, 1);
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 5 },
      metadata: { tier: 'a' },
    });

    await world.advanceTo('2025-03-01T00:01:05Z');
    expect(world.services.scheduler.runningInstances).toEqual([world.id('inst_A')]);
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
      last_snapshot_id: first?.id,
      last_error: null,
    });
    // The run started before the edit, so it carries the configuration it started with.
    expect(first?.tags.tier).toBe('a');

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
  it('BB-10: the schedule stays deleted, nothing is pruned, and a new one inherits nothing', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    world.failCapture('inst_A', { delayMs: 20_000 }, 2);

    await world.advanceTo('2025-03-01T00:02:05Z');
    expect((await world.deleteSchedule('inst_A')).status).toBe(204);
    await world.advanceTo('2025-03-01T00:02:30Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);

    await world.advanceTo('2025-03-01T00:10:00Z');
    expect((await world.getSchedule('inst_A')).status).toBe(404);
    // The 2m capture is complete and kept, and so is the 1m one it would have pruned.
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000100',
      'scheduled-20250301-000200',
    ]);
    expect(world.retentionDeletions()).toEqual([]);

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
  it('BB-13: abandons a hung capture at the timeout, resumes the guest, and stalls no one', async () => {
    const world = await newWorld({ env: { VMKEEP_CAPTURE_TIMEOUT: '2m' } });
    await world.addInstance('inst_A');
    await world.addInstance('inst_B');
    world.failCapture('inst_A', { hang: true }, 1);
    const failures: string[] = [];
    world.services.scheduler.events.on('run-failed', (event) => failures.push(event.error));
    for (const alias of ['inst_A', 'inst_B']) {
      await world.putSchedule(alias, { interval: '1m', retention: { max_count: 10 } });
    }

    await world.advanceTo('2025-03-01T00:02:59Z');
    expect(world.services.scheduler.runningInstances).toEqual([world.id('inst_A')]);
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');

    await world.advanceTo('2025-03-01T00:03:01Z');
    // Abandoned at 1m + 2m; the guest was resumed, and the overdue slot ran at once.
    expect(failures).toEqual([expect.stringMatching(/^capture failed: capture timeout/)]);
    expect(world.driver.calls.kinds(world.id('inst_A')).slice(1)).toEqual([
      'snapshot-begin',
      'pause',
      'snapshot-failed',
      'resume',
      'snapshot-begin',
      'pause',
      'resume',
      'snapshot-end',
    ]);

    await world.advanceTo('2025-03-01T00:03:10Z');
    const startedAt = Date.now();
    const probe = await world.createSnapshot('inst_A', { name: 'probe' });
    expect([201, 409]).toContain(probe.status);
    expect(Date.now() - startedAt).toBeLessThan(2_000);

    await world.advanceTo('2025-03-01T00:06:00Z');
    // inst_B ran on every slot, on time, while inst_A was stuck.
    const bCreated = (await world.listSnapshots('inst_B')).map((s) => Date.parse(s.created_at));
    expect(bCreated).toEqual([1, 2, 3, 4, 5, 6].map((k) => T0 + k * MIN));
    // inst_A took nothing for the hung slot, caught up once when freed, then ran on time.
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
      'scheduled-20250301-000600',
    ]);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
  });
});
