/**
 * Schedules meeting the instance lifecycle over a whole server: a deleted source, a paused,
 * stopped or standby guest, and the pause/resume protocol of a capture when the hypervisor
 * fails (cases BB-12, BB-25, BB-26, BB-30).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeMemory } from '@vmkeep/hypervisor';
import { describe, expect, it } from 'vitest';
import { useHttpScheduleWorld } from './support/http-schedule-hooks.js';
import type { HttpScheduleWorld } from './support/http-schedule-world.js';

const newWorld = useHttpScheduleWorld();
const T0 = Date.parse('2025-03-01T00:00:00Z');

/** What the mock hypervisor saw of one instance's VM, from `from` on. */
const callsOf = (world: HttpScheduleWorld, alias: string, from = 0) =>
  world.driver.calls.kinds(world.id(alias)).slice(from);

describe('BB-12 deleted source instance', () => {
  it('BB-12 A: a count-only schedule converges and retires on the first run after the delete', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const id = world.id('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    await world.advanceTo('2025-03-01T00:05:30Z');
    await world.deleteInstance('inst_A');
    const started: number[] = [];
    world.services.scheduler.events.on('run-started', (event) => started.push(event.startedAt));

    await world.advanceTo('2025-03-01T00:06:00Z');
    expect((await world.getSchedule(id)).status).toBe(404);
    await world.advanceTo('2025-03-01T02:00:00Z');
    expect(started).toEqual([Date.parse('2025-03-01T00:06:00Z')]);
    expect(await world.scheduledNames(id)).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
    ]);
  });

  it('BB-12 B: the schedule of a deleted instance can be read, and deleting it stops pruning', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const id = world.id('inst_A');
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 0, max_age: '10m' },
    });
    await world.advanceTo('2025-03-01T00:05:30Z');
    await world.deleteInstance('inst_A');

    await world.advanceTo('2025-03-01T00:08:00Z');
    expect(await world.getSchedule(id)).toMatchObject({
      status: 200,
      body: {
        instance_id: id,
        last_run_at: '2025-03-01T00:08:00.000Z',
        last_snapshot_id: null,
        last_error: null,
        next_run_at: '2025-03-01T00:09:00.000Z',
      },
    });
    expect((await world.deleteSchedule(id)).status).toBe(204);

    await world.advanceTo('2025-03-01T00:30:00Z');
    expect(await world.scheduledNames(id)).toHaveLength(5);
    expect(world.retentionDeletions()).toEqual([]);
  });

  it('BB-12 B2: left alone, age retention runs out and the schedule removes itself', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const id = world.id('inst_A');
    await world.putSchedule('inst_A', {
      interval: '1m',
      retention: { max_count: 0, max_age: '10m' },
    });
    await world.advanceTo('2025-03-01T00:05:30Z');
    await world.deleteInstance('inst_A');

    // 00:01 sits exactly on the 00:11 cutoff and stays until 00:12.
    await world.advanceTo('2025-03-01T00:11:00Z');
    expect(await world.scheduledNames(id)).toHaveLength(5);
    await world.advanceTo('2025-03-01T00:15:30Z');
    expect(await world.scheduledNames(id)).toEqual(['scheduled-20250301-000500']);
    expect((await world.getSchedule(id)).status).toBe(200);

    await world.advanceTo('2025-03-01T00:16:00Z');
    expect(await world.scheduledNames(id)).toEqual([]);
    expect((await world.getSchedule(id)).status).toBe(404);
  });
});

describe('BB-25 a paused guest stays paused', () => {
  it('BB-25: captures a paused guest as Standby without resuming it (policy A)', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    expect((await world.instanceVerb('inst_A', 'pause')).body.state).toBe('Paused');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 3 } });
    const before = callsOf(world, 'inst_A').length;

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect((await world.getInstance('inst_A')).body.state).toBe('Paused');
    expect(callsOf(world, 'inst_A', before)).toEqual(['snapshot-begin', 'snapshot-end']);
    const [first] = await world.listSnapshots('inst_A');
    expect(first).toMatchObject({ kind: 'Standby', name: 'scheduled-20250301-000100' });
    expect((await world.getSnapshot(first!.id)).body.downtime_ms).toBe(0);

    await world.advanceTo('2025-03-01T00:01:30Z');
    expect((await world.instanceVerb('inst_A', 'resume')).body.state).toBe('Running');
    await world.advanceTo('2025-03-01T00:02:00Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(2);
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
  });
});

describe('BB-26 pause/resume protocol when the hypervisor fails', () => {
  it('BB-26 A: a failed memory snapshot resumes the guest exactly once and lists nothing', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    world.failCapture('inst_A', { fail: new Error('vm.snapshot returned HTTP 500') }, 1);
    const before = callsOf(world, 'inst_A').length;

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect(callsOf(world, 'inst_A', before)).toEqual([
      'snapshot-begin',
      'pause',
      'snapshot-failed',
      'resume',
    ]);
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
    expect(await world.listSnapshots('inst_A')).toEqual([]);
    expect((await world.getSchedule('inst_A')).body.last_error).toMatch(/HTTP 500/);
  });

  it('BB-26 B: keeps a complete snapshot whose resume failed, says so, and retries the resume', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    world.driver.faults.inject(
      'resume',
      { fail: 'vm.resume returned HTTP 500' },
      {
        match: world.id('inst_A'),
      },
    );

    await world.advanceTo('2025-03-01T00:01:00Z');
    const [s1] = await world.listSnapshots('inst_A');
    expect(s1).toMatchObject({ name: 'scheduled-20250301-000100', status: 'ready' });
    expect((await world.getSchedule('inst_A')).body).toMatchObject({
      last_snapshot_id: s1?.id,
      last_error: expect.stringMatching(/snapshot taken, but .*could not be resumed.*HTTP 500/),
    });
    // Reported Paused, with the reason, until a resume works.
    expect((await world.getInstance('inst_A')).body).toMatchObject({
      state: 'Paused',
      state_error: expect.stringMatching(/could not be resumed/),
    });

    // The resume is retried within two poll periods, before anything pauses the guest again.
    await world.advanceTo('2025-03-01T00:01:02Z');
    expect((await world.getInstance('inst_A')).body).toMatchObject({
      state: 'Running',
      state_error: null,
    });
    const after = world.driver.calls.entries(world.id('inst_A')).filter((e) => e.at > T0 + 60_000);
    expect(after.map((e) => e.kind)).toEqual(['resume']);

    await world.advanceTo('2025-03-01T00:02:00Z');
    expect(await world.scheduledNames('inst_A')).toHaveLength(2);
    expect((await world.getSchedule('inst_A')).body.last_error).toBeNull();
  });

  it('BB-26 C: writes memory and disks while the guest is frozen, and the guest cannot run meanwhile', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const vm = world.driver.vm(world.id('inst_A'))!;
    await vm.tick();
    await vm.tick();
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 5 } });
    world.failCapture('inst_A', { delayMs: 5_000 }, 1);
    const before = callsOf(world, 'inst_A').length;

    await world.advanceTo('2025-03-01T00:01:02Z');
    await expect(vm.tick()).rejects.toThrow(/cannot tick while paused/);
    await world.advanceTo('2025-03-01T00:01:10Z');

    const entries = world.driver.calls.entries(world.id('inst_A')).slice(before);
    expect(entries.map((e) => [e.kind, e.at - T0])).toEqual([
      ['snapshot-begin', 60_000],
      ['pause', 60_000],
      ['resume', 65_000],
      ['snapshot-end', 65_000],
    ]);
    const [snapshot] = await world.listSnapshots('inst_A');
    expect((await world.getSnapshot(snapshot!.id)).body.downtime_ms).toBe(5_000);
    // The memory image holds the guest as it was when frozen: two ticks, no more.
    const payload = world.services.domain.paths.snapshot(snapshot!.id);
    const memory = decodeMemory(await readFile(join(payload, 'memory.bin')));
    expect(memory.ticks).toBe(2);
    expect(await vm.tick()).toBe(3);
  });
});

describe('BB-30 stopped and standby instances', () => {
  it('BB-30: takes disk-only snapshots of a stopped guest and copies a standby one, waking neither', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A', 'Stopped');
    await world.addInstance('inst_C', 'Standby');
    const calls = world.driver.calls.entries().length;
    for (const alias of ['inst_A', 'inst_C']) {
      await world.putSchedule(alias, { interval: '1m', retention: { max_count: 2 } });
    }

    await world.advanceTo('2025-03-01T00:01:00Z');
    expect((await world.listSnapshots('inst_A')).map((s) => s.kind)).toEqual(['Stopped']);
    expect((await world.listSnapshots('inst_C')).map((s) => s.kind)).toEqual(['Standby']);
    expect(world.driver.calls.entries()).toHaveLength(calls);
    expect((await world.getInstance('inst_A')).body.state).toBe('Stopped');
    expect((await world.getInstance('inst_C')).body.state).toBe('Standby');

    await world.advanceTo('2025-03-01T00:01:30Z');
    expect((await world.instanceVerb('inst_A', 'start')).body.state).toBe('Running');
    await world.advanceTo('2025-03-01T00:02:00Z');
    expect((await world.listSnapshots('inst_A')).map((s) => s.kind)).toEqual([
      'Stopped',
      'Standby',
    ]);
    expect((await world.getInstance('inst_A')).body.state).toBe('Running');
  });
});
