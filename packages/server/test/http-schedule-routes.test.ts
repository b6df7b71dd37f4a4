/**
 * `GET | PUT | DELETE /instances/{id}/snapshot-schedule` through the real app: how `{id}` is
 * resolved, validation and status codes, the response shape, and the generated SDK against it
 * (cases BB-17, BB-31, BB-33, BB-34, and BB-12's "GET and DELETE after the instance is gone").
 */
import type { Schemas } from '@vmkeep/api';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { useHttpScheduleWorld } from './support/http-schedule-hooks.js';
import type { HttpScheduleWorld } from './support/http-schedule-world.js';

const newWorld = useHttpScheduleWorld();
const VALID = { interval: '1m', retention: { max_count: 1 } };

async function worldWithSchedule(env: Record<string, string> = {}): Promise<HttpScheduleWorld> {
  const world = await newWorld({ env });
  await world.addInstance('inst_A');
  await world.putSchedule('inst_A', { interval: '5m', retention: { max_count: 3 } });
  return world;
}

describe('resolving {id}', () => {
  it('accepts the id, the name or a unique id prefix, and answers with the canonical id', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const id = world.id('inst_A');
    const byName = await world.request('PUT', '/instances/inst-a/snapshot-schedule', VALID);
    expect(byName.status).toBe(200);
    expect(byName.body.instance_id).toBe(id);

    const byPrefix = await world.request('GET', `/instances/${id.slice(0, 6)}/snapshot-schedule`);
    expect(byPrefix).toMatchObject({ status: 200, body: { instance_id: id } });
    expect((await world.getSchedule('inst_A')).body).toEqual(byName.body);
    expect((await world.request('DELETE', '/instances/inst-a/snapshot-schedule')).status).toBe(204);
    expect((await world.getSchedule('inst_A')).status).toBe(404);
  });

  it('BB-12: still reads and deletes the schedule of a deleted instance by its id', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const id = world.id('inst_A');
    await world.putSchedule('inst_A', { interval: '1m', retention: { max_age: '1h' } });
    await world.advanceTo('2025-03-01T00:01:00Z');
    await world.deleteInstance('inst_A');

    const seen = await world.getSchedule(id);
    expect(seen).toMatchObject({ status: 200, body: { instance_id: id, last_error: null } });
    // Its name died with it: only the id reaches the schedule now.
    expect((await world.request('GET', '/instances/inst-a/snapshot-schedule')).status).toBe(404);
    expect((await world.putSchedule(id, VALID)).body).toEqual({
      code: 'not_found',
      message: `instance ${id} not found`,
    });
    expect((await world.deleteSchedule(id)).status).toBe(204);
    expect((await world.getSchedule(id)).status).toBe(404);
  });
});

describe('BB-31 interval and duration validation over HTTP', () => {
  it.each<[string, string]>([
    ['1m', '1m0s'],
    ['90s', '1m30s'],
    ['1h30m', '1h30m0s'],
    ['1.5h', '1h30m0s'],
  ])('BB-31: accepts interval %j and writes it back as %j', async (interval, canonical) => {
    const world = await newWorld({ env: { VMKEEP_MIN_SCHEDULE_INTERVAL: '1m' } });
    await world.addInstance('inst_A');
    const put = await world.putSchedule('inst_A', { interval, retention: { max_count: 1 } });
    expect(put).toMatchObject({ status: 200, body: { interval: canonical } });
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
  ])(
    'BB-31: rejects interval %s with 400, naming it, and keeps the schedule',
    async (_, interval) => {
      const world = await worldWithSchedule({ VMKEEP_MIN_SCHEDULE_INTERVAL: '1m' });
      const before = await world.getSchedule('inst_A');
      const reply = await world.putSchedule('inst_A', { interval, retention: { max_count: 1 } });
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ code: 'invalid_request', message: /interval/ });
      expect((await world.getSchedule('inst_A')).body).toEqual(before.body);
    },
  );

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
});

describe('metadata over HTTP', () => {
  const keys = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

  it('rejects 49 metadata keys with 400 naming metadata: a snapshot has room for 48 + 2', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const reply = await world.putSchedule('inst_A', { ...VALID, metadata: keys(49) });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ code: 'invalid_request', message: /metadata/ });
  });

  it('puts 48 metadata keys and both reserved tags on every scheduled snapshot', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    expect((await world.putSchedule('inst_A', { ...VALID, metadata: keys(48) })).status).toBe(200);
    await world.advanceTo('2025-03-01T00:01:30Z');

    const schedule = (await world.getSchedule('inst_A')).body;
    expect(schedule.last_error).toBeNull();
    const [snapshot] = await world.listSnapshots('inst_A');
    expect(snapshot?.id).toBe(schedule.last_snapshot_id);
    expect(Object.keys(snapshot?.tags ?? {})).toHaveLength(50);
    expect(snapshot?.tags).toMatchObject({
      ...keys(48),
      'hypeman.scheduled': 'true',
      'hypeman.schedule_instance_id': world.id('inst_A'),
    });
  });
});

describe('BB-17 zero values over HTTP', () => {
  it.each<[string, unknown]>([
    ['max_count 0 alone', { max_count: 0 }],
    ['max_count 0 and max_age 0s', { max_count: 0, max_age: '0s' }],
    ['an empty retention', {}],
    ['no retention', undefined],
    ['max_count -1', { max_count: -1 }],
    ['max_count 1,000,001', { max_count: 1_000_001 }],
    ['max_count 1e300', { max_count: 1e300 }],
    ['max_age -1h', { max_age: '-1h' }],
  ])(
    'BB-17 c: rejects %s with 400 naming retention, and keeps the schedule',
    async (_, retention) => {
      const world = await worldWithSchedule();
      const before = await world.getSchedule('inst_A');
      const reply = await world.putSchedule('inst_A', { interval: '1m', retention });
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ code: 'invalid_request', message: /retention/ });
      expect((await world.getSchedule('inst_A')).body).toEqual(before.body);
    },
  );

  it('BB-17 b: the SDK sends max_count 0 on the wire and reads it back as 0', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const bodies: Promise<string>[] = [];
    const client = world.client((request) => bodies.push(request.text()));
    const { data } = await client.PUT('/instances/{id}/snapshot-schedule', {
      params: { path: { id: world.id('inst_A') } },
      body: { interval: '1m', retention: { max_count: 0, max_age: '3m' } },
    });
    expect(JSON.parse(await bodies[0]!)).toEqual({
      interval: '1m',
      retention: { max_count: 0, max_age: '3m' },
    });
    expect(data?.retention).toEqual({ max_count: 0, max_age: '3m0s' });
  });
});

describe('BB-33 status codes and encoded path parameters', () => {
  it('BB-33: answers 404 for an instance without a schedule and for an unknown instance', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    const noSchedule = { code: 'not_found', message: 'snapshot schedule not found' };
    expect(await world.getSchedule('inst_A')).toMatchObject({ status: 404, body: noSchedule });
    expect(await world.getSchedule('nope')).toMatchObject({ status: 404, body: noSchedule });
    expect(await world.deleteSchedule('nope')).toMatchObject({ status: 404, body: noSchedule });
    expect(await world.putSchedule('nope', VALID)).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });
  });

  it('BB-33: resolves the instance before reading the body: unknown instance + bad body is 404', async () => {
    const world = await newWorld();
    const reply = await world.putSchedule('nope', { interval: 'abc' });
    expect(reply).toMatchObject({ status: 404, body: { code: 'not_found' } });
  });

  it('BB-33: deletes with 204 and an empty body, then answers 404', async () => {
    const world = await worldWithSchedule();
    expect(await world.deleteSchedule('inst_A')).toMatchObject({ status: 204, body: undefined });
    expect((await world.deleteSchedule('inst_A')).status).toBe(404);
  });

  it('BB-33: answers malformed JSON and a non-JSON content type with a JSON 4xx', async () => {
    const world = await worldWithSchedule();
    const path = world.schedulePath('inst_A');
    const malformed = await world.request('PUT', path, '{');
    expect(malformed).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    const text = await world.request('PUT', path, JSON.stringify(VALID), {
      'Content-Type': 'text/plain',
    });
    expect([400, 415]).toContain(text.status);
    for (const reply of [malformed, text]) {
      expect(reply.contentType).toMatch(/^application\/json/);
      expect(reply.body.message).toEqual(expect.any(String));
    }
  });

  it.each([
    ['a%2Fb', 'an encoded slash'],
    ['%E2%82%AC', 'an encoded euro sign'],
  ])('BB-33: GET /instances/%s/snapshot-schedule (%s) is a JSON 404', async (raw) => {
    const world = await worldWithSchedule();
    const reply = await world.request('GET', `/instances/${raw}/snapshot-schedule`);
    expect(reply).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(reply.contentType).toMatch(/^application\/json/);
  });

  it('BB-33: the SDK puts "a/b" on the wire as one encoded segment', async () => {
    const world = await worldWithSchedule();
    const urls: string[] = [];
    const client = world.client((request) => urls.push(request.url));
    const { error, response } = await client.GET('/instances/{id}/snapshot-schedule', {
      params: { path: { id: 'a/b' } },
    });
    expect(urls).toEqual(['http://vmkeep.test/instances/a%2Fb/snapshot-schedule']);
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'not_found' });
  });
});

describe('BB-34 the response contract', () => {
  it('BB-34: writes every history key as null before the first run, times in UTC', async () => {
    const world = await newWorld();
    await world.addInstance('inst_A');
    await world.putSchedule('inst_A', VALID);
    const got = await world.getSchedule('inst_A');
    expect(got.body).toEqual({
      instance_id: world.id('inst_A'),
      interval: '1m0s',
      name_prefix: null,
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

  it('BB-34: the SDK gets a 204 from DELETE without data, error or exception', async () => {
    const world = await worldWithSchedule();
    const r = await world.client().DELETE('/instances/{id}/snapshot-schedule', {
      params: { path: { id: world.id('inst_A') } },
    });
    expect(r.response.status).toBe(204);
    expect(r.error).toBeUndefined();
    expect(r.data).toBeUndefined();
  });

  it('BB-34: the generated type keeps "| null" on the history fields', () => {
    type Schedule = Schemas['SnapshotSchedule'];
    expectTypeOf<Schedule['last_run_at']>().toEqualTypeOf<string | null>();
    expectTypeOf<Schedule['last_snapshot_id']>().toEqualTypeOf<string | null>();
    expectTypeOf<Schedule['last_error']>().toEqualTypeOf<string | null>();
  });
});
