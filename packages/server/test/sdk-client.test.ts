import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import Hypeman from '@onkernel/hypeman';
import type { Handlers, Schemas } from '@vmkeep/api';
import { createClient, toVmkeepError, VmkeepError } from '@vmkeep/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../src/domain/errors.js';
import { closeTestApps, testApp } from './foundation-app.js';

const SCHEDULE: Schemas['SnapshotSchedule'] = {
  instance_id: 'k3v9q2m7x1p8z4n6w5r0t2ya',
  interval: '1m0s',
  name_prefix: null,
  metadata: {},
  retention: { max_count: 0, max_age: '3m0s' },
  next_run_at: '2025-03-01T00:01:00Z',
  last_run_at: null,
  last_snapshot_id: null,
  last_error: null,
  created_at: '2025-03-01T00:00:00Z',
  updated_at: '2025-03-01T00:00:00Z',
};

/** Records every request the handlers see, and answers like a schedule store would. */
function scheduleHandlers(
  seen: { op: string; path: unknown; body?: unknown }[],
): Partial<Handlers> {
  return {
    getInstanceSnapshotSchedule: ({ path }) => {
      seen.push({ op: 'get', path });
      if (path.id !== SCHEDULE.instance_id) throw new DomainError('not_found', 'no schedule');
      return { status: 200, body: SCHEDULE };
    },
    setInstanceSnapshotSchedule: ({ path, body }) => {
      seen.push({ op: 'put', path, body });
      return { status: 200, body: SCHEDULE };
    },
    deleteInstanceSnapshotSchedule: ({ path }) => {
      seen.push({ op: 'delete', path });
      return { status: 204 };
    },
  };
}

const servers: { close: () => void }[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) server.close();
  await closeTestApps();
});

/** The real app on a real socket at 127.0.0.1:<free port>. */
async function listen(handlers: Partial<Handlers> = {}) {
  const ctx = await testApp({ handlers });
  const baseUrl = await new Promise<string>((resolve) => {
    const server = serve({ fetch: ctx.app.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
      resolve(`http://127.0.0.1:${(info as AddressInfo).port}`),
    );
    servers.push(server);
  });
  return { ...ctx, baseUrl };
}

describe('the vmkeep SDK against a listening server', () => {
  it('reads health and capabilities', async () => {
    const { baseUrl, token } = await listen();
    const client = createClient({ baseUrl: `${baseUrl}/`, token });
    expect((await client.GET('/health')).data).toEqual({ status: 'ok' });
    const { data } = await client.GET('/capabilities');
    expect(data?.min_schedule_interval).toBe('1s');
  });

  it('returns API errors as results and turns them into VmkeepError on request', async () => {
    const { baseUrl } = await listen();
    const client = createClient({ baseUrl });
    const { data, error, response } = await client.GET('/capabilities');
    expect(data).toBeUndefined();
    expect(response.status).toBe(401);
    const thrown = toVmkeepError(error, response);
    expect(thrown).toBeInstanceOf(VmkeepError);
    expect(thrown).toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('percent-encodes path parameters so "a/b" stays one parameter', async () => {
    const seen: { op: string; path: unknown }[] = [];
    const { baseUrl, token } = await listen(scheduleHandlers(seen));
    const urls: string[] = [];
    const client = createClient({
      baseUrl,
      token,
      fetch: (request) => {
        urls.push(request.url);
        return fetch(request);
      },
    });
    const { error, response } = await client.GET('/instances/{id}/snapshot-schedule', {
      params: { path: { id: 'a/b' } },
    });
    expect(urls).toEqual([`${baseUrl}/instances/a%2Fb/snapshot-schedule`]);
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'not_found' });
    expect(seen).toEqual([{ op: 'get', path: { id: 'a/b' } }]);
  });

  it('answers a 204 without data or error (BB-34 item 2)', async () => {
    const { baseUrl, token } = await listen(scheduleHandlers([]));
    const client = createClient({ baseUrl, token });
    const r = await client.DELETE('/instances/{id}/snapshot-schedule', {
      params: { path: { id: 'inst_A' } },
    });
    expect(r.response.status).toBe(204);
    expect(r.error).toBeUndefined();
    expect(r.data).toBeUndefined();
  });

  it('keeps a zero max_count on the wire and in the typed response (BB-17 b)', async () => {
    const seen: { op: string; path: unknown; body?: unknown }[] = [];
    const { baseUrl, token, deps } = await listen(scheduleHandlers(seen));
    // `/instances/{id}/...` resolves the instance before it reads the body.
    await deps.services.instances.create({ name: 'inst-a', image: 'default', hypervisor: 'mock' });
    const bodies: string[] = [];
    const client = createClient({
      baseUrl,
      token,
      fetch: async (request) => {
        bodies.push(await request.clone().text());
        return fetch(request);
      },
    });
    const { data } = await client.PUT('/instances/{id}/snapshot-schedule', {
      params: { path: { id: 'inst-a' } },
      body: { interval: '1m', retention: { max_count: 0, max_age: '3m' } },
    });
    expect(bodies[0]).toContain('"max_count":0');
    expect(data?.retention.max_count).toBe(0);
    expect(data?.last_run_at).toBeNull();
  });
});

describe("hypeman's published SDK against vmkeep", () => {
  it('checks health and manages a schedule with unchanged client code', async () => {
    const seen: { op: string; path: unknown; body?: unknown }[] = [];
    const { baseUrl, token, deps } = await listen(scheduleHandlers(seen));
    // An instance whose name is the fake schedule's instance id, so the id resolves.
    await deps.services.instances.create({
      name: SCHEDULE.instance_id,
      image: 'default',
      hypervisor: 'mock',
    });
    const hypeman = new Hypeman({ baseURL: baseUrl, apiKey: token, maxRetries: 0 });

    expect(await hypeman.health.check()).toEqual({ status: 'ok' });
    const updated = await hypeman.instances.snapshotSchedule.update(SCHEDULE.instance_id, {
      interval: '1m',
      retention: { max_count: 0, max_age: '3m' },
      name_prefix: 'nightly',
      metadata: { env: 'test' },
    });
    expect(updated.retention.max_count).toBe(0);
    expect(await hypeman.instances.snapshotSchedule.get(SCHEDULE.instance_id)).toEqual(SCHEDULE);
    await hypeman.instances.snapshotSchedule.delete(SCHEDULE.instance_id);
    await expect(hypeman.instances.snapshotSchedule.get('a/b')).rejects.toMatchObject({
      status: 404,
    });
    expect(seen.map((s) => s.op)).toEqual(['put', 'get', 'delete', 'get']);
    expect(seen[0]?.body).toEqual({
      interval: '1m',
      retention: { max_count: 0, max_age: '3m' },
      name_prefix: 'nightly',
      metadata: { env: 'test' },
    });
    expect(seen[3]?.path).toEqual({ id: 'a/b' });
  });

  it('gets a 401 error with the API error body when the token is wrong', async () => {
    const { baseUrl } = await listen();
    const hypeman = new Hypeman({ baseURL: baseUrl, apiKey: 'wrong', maxRetries: 0 });
    await expect(hypeman.instances.snapshotSchedule.get('x')).rejects.toMatchObject({
      status: 401,
      error: { code: 'unauthorized' },
    });
  });
});
