/**
 * PUT validation and the response contract, through the service (cases BB-17, BB-31 and the
 * schedule rows of BB-33).
 */
import { describe, expect, it } from 'vitest';
import { type DomainScheduleWorld, useScheduleWorld } from './support/schedule-world.js';

const newWorld = useScheduleWorld({ minInterval: '1m' });

async function worldWithSchedule(): Promise<DomainScheduleWorld> {
  const world = newWorld();
  await world.addInstance('inst_A');
  await world.putSchedule('inst_A', { interval: '5m', retention: { max_count: 3 } });
  return world;
}

describe('BB-31 interval and duration validation', () => {
  it.each<[string, string]>([
    ['1m', '1m0s'],
    ['90s', '1m30s'],
    ['1h30m', '1h30m0s'],
    ['1.5h', '1h30m0s'],
  ])('BB-31: accepts interval %j and writes it back as %j', async (interval, canonical) => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', { interval, retention: { max_count: 1 } });
    expect(put.status).toBe(200);
    expect(put.body.interval).toBe(canonical);
    expect((await world.getSchedule('inst_A')).body.interval).toBe(canonical);
  });

  it.each<[string, unknown]>([
    ['59s', '59s'],
    ['0s', '0s'],
    ['-1m', '-1m'],
    ['empty', ''],
    ['abc', 'abc'],
    ['trailing space', '1m '],
    ['days', '1d'],
    ['ISO 8601 days', 'P1D'],
    ['ISO 8601 time', 'PT1H'],
    ['a number', 60],
    ['null', null],
    ['missing', undefined],
    ['int64 overflow', '2562048h'],
  ])('BB-31: rejects interval %s and leaves the stored schedule alone', async (_, interval) => {
    const world = await worldWithSchedule();
    const before = await world.getSchedule('inst_A');
    const reply = await world.putSchedule('inst_A', { interval, retention: { max_count: 1 } });
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe('invalid_request');
    expect(reply.body.message).toMatch(/interval/);
    expect(await world.getSchedule('inst_A')).toEqual(before);
  });

  it.each<[string, unknown, number]>([
    ['7d', { max_age: '7d' }, 400],
    ['-1h', { max_age: '-1h' }, 400],
    ['0s alone', { max_age: '0s' }, 400],
    ['0s with max_count 1', { max_age: '0s', max_count: 1 }, 200],
  ])('BB-31: max_age %s -> %i', async (_, retention, status) => {
    const world = await worldWithSchedule();
    const reply = await world.putSchedule('inst_A', { interval: '1m', retention });
    expect(reply.status).toBe(status);
    if (status === 400) expect(reply.body.message).toMatch(/retention/);
  });

  it('rejects reserved tag prefixes in metadata, so provenance cannot be forged', async () => {
    const world = await worldWithSchedule();
    for (const key of ['hypeman.scheduled', 'hypeman.schedule_instance_id', 'vmkeep.run']) {
      const reply = await world.putSchedule('inst_A', {
        interval: '1m',
        metadata: { [key]: 'inst_A' },
        retention: { max_count: 1 },
      });
      expect(reply.status).toBe(400);
      expect(reply.body.message).toContain(key);
    }
  });
});

describe('BB-17 zero values keep their meaning', () => {
  it('BB-17 a: keeps max_count 0 as "no count rule" across GET and restart', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const body = { interval: '1m', retention: { max_count: 0, max_age: '3m' } };
    const put = await world.putSchedule('inst_A', body);
    const expected = { max_count: 0, max_age: '3m0s' };
    expect(put.body.retention).toEqual(expected);
    expect((await world.getSchedule('inst_A')).body.retention).toEqual(expected);

    await world.restart();
    expect((await world.getSchedule('inst_A')).body.retention).toEqual(expected);

    await world.advanceTo('2025-03-01T00:06:05Z');
    // 00:03 sits exactly on the 00:06 − 3m cutoff and is kept; no count rule applies.
    expect(await world.scheduledNames('inst_A')).toEqual([
      'scheduled-20250301-000300',
      'scheduled-20250301-000400',
      'scheduled-20250301-000500',
      'scheduled-20250301-000600',
    ]);
  });

  it.each<[string, unknown]>([
    ['max_count 0 alone', { max_count: 0 }],
    ['max_count 0 and max_age 0s', { max_count: 0, max_age: '0s' }],
    ['an empty retention', {}],
    ['no retention', undefined],
    ['max_count -1', { max_count: -1 }],
    ['max_age -1h', { max_age: '-1h' }],
  ])(
    'BB-17 c: rejects %s, naming retention, and keeps the stored schedule',
    async (_, retention) => {
      const world = await worldWithSchedule();
      const before = await world.getSchedule('inst_A');
      const reply = await world.putSchedule('inst_A', { interval: '1m', retention });
      expect(reply.status).toBe(400);
      expect(reply.body.code).toBe('invalid_request');
      expect(reply.body.message).toMatch(/retention/);
      expect(await world.getSchedule('inst_A')).toEqual(before);
    },
  );

  it('answers with every history key present, null before the first run (BB-34 shape)', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', { interval: '1m', retention: { max_count: 1 } });
    expect(put.body).toEqual({
      instance_id: 'inst_A',
      interval: '1m0s',
      metadata: {},
      retention: { max_count: 1 },
      next_run_at: '2025-03-01T00:01:00.000Z',
      last_run_at: null,
      last_snapshot_id: null,
      last_error: null,
      created_at: '2025-03-01T00:00:00.000Z',
      updated_at: '2025-03-01T00:00:00.000Z',
    });
  });
});

describe('BB-33 schedule status codes', () => {
  it('BB-33: answers 404 for an instance without a schedule, and for an unknown instance', async () => {
    const world = newWorld();
    await world.addInstance('inst_A');
    const notFound = { code: 'not_found', message: 'snapshot schedule not found' };
    expect(await world.getSchedule('inst_A')).toEqual({ status: 404, body: notFound });
    expect(await world.getSchedule('nope')).toEqual({ status: 404, body: notFound });
    expect(await world.deleteSchedule('nope')).toEqual({ status: 404, body: notFound });
    const valid = { interval: '1m', retention: { max_count: 1 } };
    expect((await world.putSchedule('nope', valid)).status).toBe(404);
  });

  it('BB-33: checks the instance before the body, so an unknown instance is 404 either way', async () => {
    const world = newWorld();
    const reply = await world.putSchedule('nope', { interval: 'abc' });
    expect(reply).toEqual({
      status: 404,
      body: { code: 'not_found', message: 'instance not found' },
    });
  });

  it('BB-33: deletes with 204 and no body, then answers 404', async () => {
    const world = await worldWithSchedule();
    expect(await world.deleteSchedule('inst_A')).toEqual({ status: 204, body: undefined });
    expect((await world.deleteSchedule('inst_A')).status).toBe(404);
  });
});
