import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../store/db.js';
import { parseDuration } from './duration.js';
import { type RunClaim, type ScheduleRecord, ScheduleStore } from './schedule-store.js';

const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

function schedule(overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    instanceId: 'inst_A',
    scheduleId: 'sched-1',
    intervalNs: parseDuration('1m'),
    namePrefix: null,
    metadata: { tier: 'a' },
    maxCount: 5,
    maxAgeNs: 0n,
    nextRunAt: T0 + MIN,
    lastRunAt: null,
    lastSnapshotId: null,
    lastError: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function claim(record: ScheduleRecord, runId: string, overrides: Partial<RunClaim> = {}): RunClaim {
  return {
    runId,
    schedule: record,
    nowMs: record.nextRunAt,
    nextRunAt: record.nextRunAt + MIN,
    leaseOwner: 'me',
    leaseExpiresAt: record.nextRunAt + 5 * MIN,
    ...overrides,
  };
}

describe('ScheduleStore', () => {
  let dir: string;
  let dbs: Db[];
  let store: ScheduleStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmkeep-schedule-store-'));
    dbs = [];
    store = open();
  });
  afterEach(() => {
    for (const db of dbs) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): ScheduleStore {
    const db = openDatabase(join(dir, 'vmkeep.db'));
    dbs.push(db);
    return new ScheduleStore(db);
  }

  it('round-trips a schedule, nanosecond durations beyond 2^53 included', () => {
    const longest = parseDuration('2562047h47m16.854775807s');
    store.save(schedule({ intervalNs: longest, maxAgeNs: longest, namePrefix: 'nightly' }));
    expect(store.get('inst_A')).toEqual(
      schedule({ intervalNs: longest, maxAgeNs: longest, namePrefix: 'nightly' }),
    );
  });

  it('lets exactly one of two processes claim a slot both saw as due', () => {
    store.save(schedule());
    const other = open();
    const seenByUs = store.get('inst_A')!;
    const seenByThem = other.get('inst_A')!;

    expect(store.claimRun(claim(seenByUs, 'run-1'))).toBe('claimed');
    expect(other.claimRun(claim(seenByThem, 'run-2', { leaseOwner: 'them' }))).toBe('moved');
    expect(store.listRuns('inst_A').map((run) => run.id)).toEqual(['run-1']);
    expect(store.get('inst_A')).toMatchObject({ nextRunAt: T0 + 2 * MIN, lastRunAt: T0 + MIN });
  });

  it('refuses a slot that already has a run, and leaves the schedule as it was', () => {
    store.save(schedule());
    const due = store.get('inst_A')!;
    expect(store.claimRun(claim(due, 'run-1'))).toBe('claimed');
    // As after the wall clock moved back: next_run_at holds a slot that already ran.
    store.moveNextRun('sched-1', T0 + 2 * MIN, T0 + MIN, T0);
    const replay = store.get('inst_A')!;
    expect(store.claimRun(claim(replay, 'run-2'))).toBe('slot_taken');
    expect(store.get('inst_A')).toEqual(replay);
    expect(store.listRuns('inst_A')).toHaveLength(1);
  });

  it('lets a run write only its own columns, so an edit made meanwhile survives', () => {
    store.save(schedule());
    expect(store.claimRun(claim(store.get('inst_A')!, 'run-1'))).toBe('claimed');
    const edited = schedule({
      intervalNs: parseDuration('10m'),
      metadata: { tier: 'b' },
      maxCount: 2,
      nextRunAt: T0 + 11 * MIN,
      lastRunAt: T0 + MIN,
      updatedAt: T0 + MIN + 5_000,
    });
    store.save(edited);

    store.recordSnapshot('sched-1', 'run-1', 'snap-1', T0 + MIN + 20_000);
    store.finishRun('sched-1', 'run-1', {
      status: 'succeeded',
      nowMs: T0 + MIN + 21_000,
      error: 'retention: delete snapshot x: EIO',
      scheduleError: 'retention: delete snapshot x: EIO',
    });

    expect(store.get('inst_A')).toEqual({
      ...edited,
      lastSnapshotId: 'snap-1',
      lastError: 'retention: delete snapshot x: EIO',
      updatedAt: T0 + MIN + 21_000,
    });
    expect(store.getRun('run-1')).toMatchObject({
      status: 'succeeded',
      snapshotId: 'snap-1',
      finishedAt: T0 + MIN + 21_000,
      leaseExpiresAt: null,
    });
  });

  it('never writes a finished run into a schedule deleted and re-created meanwhile', () => {
    store.save(schedule());
    expect(store.claimRun(claim(store.get('inst_A')!, 'run-1'))).toBe('claimed');
    expect(store.delete('inst_A')).toBe(true);
    const recreated = schedule({ scheduleId: 'sched-2', nextRunAt: T0 + 3 * MIN });
    store.save(recreated);

    store.recordSnapshot('sched-1', 'run-1', 'snap-1', T0 + 2 * MIN);
    store.finishRun('sched-1', 'run-1', {
      status: 'failed',
      nowMs: T0 + 2 * MIN,
      error: 'boom',
      scheduleError: 'boom',
    });
    expect(store.deleteSchedule('sched-1')).toBe(false);
    expect(store.get('inst_A')).toEqual(recreated);
  });

  it('fails runs of dead processes: expired leases, and this owner’s previous life', () => {
    store.save(schedule());
    store.save(schedule({ instanceId: 'inst_B', scheduleId: 'sched-B' }));
    store.save(schedule({ instanceId: 'inst_C', scheduleId: 'sched-C' }));
    const take = (id: string, runId: string, owner: string, leaseExpiresAt: number) =>
      store.claimRun(claim(store.get(id)!, runId, { leaseOwner: owner, leaseExpiresAt }));
    take('inst_A', 'expired', 'dead-process', T0 + 2 * MIN);
    take('inst_B', 'mine', 'me', T0 + 10 * MIN);
    take('inst_C', 'alive', 'other-process', T0 + 10 * MIN);

    const failed = store.failInterrupted(T0 + 3 * MIN, 'interrupted', 'me');
    expect(failed.map((run) => run.id).sort()).toEqual(['expired', 'mine']);
    expect(store.getRun('alive')?.status).toBe('running');
    expect(store.get('inst_A')?.lastError).toBe('interrupted');
    expect(store.get('inst_B')?.lastError).toBe('interrupted');
    expect(store.get('inst_C')?.lastError).toBeNull();
    expect(store.failInterrupted(T0 + 3 * MIN, 'interrupted')).toEqual([]);
  });

  it('lists due schedules in slot order, skipping busy instances', () => {
    store.save(schedule({ instanceId: 'inst_A', scheduleId: 'a', nextRunAt: T0 + 2 * MIN }));
    store.save(schedule({ instanceId: 'inst_B', scheduleId: 'b', nextRunAt: T0 + MIN }));
    store.save(schedule({ instanceId: 'inst_C', scheduleId: 'c', nextRunAt: T0 + 5 * MIN }));
    expect(store.listDue(T0 + 3 * MIN, [], 10).map((s) => s.instanceId)).toEqual([
      'inst_B',
      'inst_A',
    ]);
    expect(store.listDue(T0 + 3 * MIN, ['inst_B'], 10).map((s) => s.instanceId)).toEqual([
      'inst_A',
    ]);
    expect(store.earliestNextRunAt(['inst_B'])).toBe(T0 + 2 * MIN);
    expect(store.earliestNextRunAt(['inst_A', 'inst_B', 'inst_C'])).toBeUndefined();
  });

  it('finds schedules stranded more than an interval plus jitter ahead', () => {
    // 1m interval: the jitter window is 6 s.
    store.save(schedule({ instanceId: 'inst_A', scheduleId: 'a', nextRunAt: T0 + MIN + 6_000 }));
    store.save(schedule({ instanceId: 'inst_B', scheduleId: 'b', nextRunAt: T0 + MIN + 6_001 }));
    expect(store.listStrandedAhead(T0).map((s) => s.instanceId)).toEqual(['inst_B']);
  });

  it('flags a row whose metadata is not a JSON object of strings instead of throwing', () => {
    store.save(schedule());
    store.db.prepare(`UPDATE snapshot_schedules SET metadata = '{"n": 1}'`).run();
    expect(store.get('inst_A')).toMatchObject({
      metadata: {},
      defect: expect.stringContaining('metadata'),
    });
  });
});
