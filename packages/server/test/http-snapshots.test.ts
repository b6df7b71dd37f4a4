/**
 * Every snapshot operation through the generated SDK against a listening server on the mock
 * hypervisor: take, list (filters, paging), get, patch, delete, restore and fork, with the
 * main error codes (404, 409 invalid_state / already_exists / conflict, 400, 501).
 */
import type { operations, Schemas } from '@vmkeep/api';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

type Server = Awaited<ReturnType<typeof sdkServer>>;

async function instance(server: Server, name: string) {
  const { data } = await server.client.POST('/instances', {
    body: { name, image: 'default', hypervisor: 'mock' },
  });
  if (!data) throw new Error(`could not create ${name}`);
  return data;
}

async function snapshot(server: Server, id: string, body?: Schemas['CreateSnapshotRequest']) {
  const { data, error, response } = await server.client.POST('/instances/{id}/snapshots', {
    params: { path: { id } },
    ...(body ? { body } : {}),
  });
  if (!data) throw new Error(`snapshot of ${id}: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

/** Polls `check` on real time (a request in flight on the socket), at most 5 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition still false after 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('POST /instances/{id}/snapshots', () => {
  it('takes a Standby snapshot of a running guest and a Stopped one of a stopped guest', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const { data, response } = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: 'web-1' } },
      body: { name: 'before', tags: { reason: 'upgrade' } },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      id: expect.any(String),
      name: 'before',
      kind: 'Standby',
      tags: { reason: 'upgrade' },
      source_instance_id: web.id,
      source_instance_name: 'web-1',
      source_hypervisor: 'mock',
      status: 'ready',
      pinned: false,
      schedule: null,
      expires_at: null,
      downtime_ms: expect.any(Number),
    });
    expect(data?.size_bytes).toBeGreaterThan(0);
    // The guest is left as it was found.
    const after = await server.client.GET('/instances/{id}', { params: { path: { id: web.id } } });
    expect(after.data?.state).toBe('Running');

    await server.client.POST('/instances/{id}/stop', { params: { path: { id: web.id } } });
    const cold = await snapshot(server, web.id);
    expect(cold).toMatchObject({ kind: 'Stopped', name: null, status: 'ready' });
  });

  it('answers 409 invalid_state naming both states for a kind the state cannot give', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const { error, response } = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: web.id } },
      body: { kind: 'Stopped' },
    });
    expect(response.status).toBe(409);
    expect(error).toMatchObject({
      code: 'invalid_state',
      message: 'stopped snapshot requires source in Stopped, got Running',
    });
  });

  it('keeps names unique per source instance (409 already_exists), not across instances', async () => {
    const server = await sdkServer();
    const a = await instance(server, 'a');
    const b = await instance(server, 'b');
    await snapshot(server, a.id, { name: 'nightly' });
    const again = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: a.id } },
      body: { name: 'nightly' },
    });
    expect(again.response.status).toBe(409);
    expect(again.error).toMatchObject({ code: 'already_exists' });
    expect((await snapshot(server, b.id, { name: 'nightly' })).name).toBe('nightly');
  });

  it('answers 409 conflict at once while another capture holds the instance', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    server.driver.faults.inject('snapshot', { delayMs: 5_000 }, { match: web.id });
    const sleepers = server.clock.pendingTimers;

    const slow = snapshot(server, web.id, { name: 'slow' });
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    const busy = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: web.id } },
      body: { name: 'eager' },
    });
    expect(busy.response.status).toBe(409);
    expect(busy.error).toMatchObject({ code: 'conflict' });
    expect(busy.error?.message).toMatch(/web-1/);

    await server.clock.advance(5_000);
    expect((await slow).name).toBe('slow');
    const { data } = await server.client.GET('/snapshots', {});
    expect(data?.map((s) => s.name)).toEqual(['slow']);
  });

  it('answers 400 for reserved tag prefixes: provenance is not client-writable', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    for (const key of ['hypeman.scheduled', 'vmkeep.schedule']) {
      const { error, response } = await server.client.POST('/instances/{id}/snapshots', {
        params: { path: { id: web.id } },
        body: { tags: { [key]: 'true' } },
      });
      expect(response.status, key).toBe(400);
      expect(error?.message).toMatch(/reserved prefix/);
    }
    expect((await server.client.GET('/snapshots', {})).data).toEqual([]);
  });

  it('answers 501 not_supported when the hypervisor cannot snapshot a live guest', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    server.driver.probe = async () => ({ kind: 'mock', available: true, features: ['pause'] });
    const live = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: web.id } },
    });
    expect(live.response.status).toBe(501);
    expect(live.error).toMatchObject({ code: 'not_supported' });
    // A stopped guest's disks are copied without the hypervisor.
    await server.client.POST('/instances/{id}/stop', { params: { path: { id: web.id } } });
    expect((await snapshot(server, web.id)).kind).toBe('Stopped');
  });
});

describe('GET /snapshots and GET /snapshots/{snapshotId}', () => {
  it('filters by source instance, kind, name and tags', async () => {
    const server = await sdkServer();
    const a = await instance(server, 'a');
    const b = await instance(server, 'b');
    await snapshot(server, a.id, { name: 'one', tags: { env: 'prod' } });
    await snapshot(server, b.id, { name: 'two', tags: { env: 'dev' } });
    await server.client.POST('/instances/{id}/stop', { params: { path: { id: b.id } } });
    await snapshot(server, b.id, { name: 'three', tags: { env: 'prod', team: 'x' } });

    const names = async (query: operations['listSnapshots']['parameters']['query']) =>
      (await server.client.GET('/snapshots', { params: { query } })).data?.map((s) => s.name);
    expect(await names({})).toEqual(['one', 'two', 'three']);
    expect(await names({ source_instance_id: b.id })).toEqual(['two', 'three']);
    expect(await names({ kind: 'Stopped' })).toEqual(['three']);
    expect(await names({ name: 'two' })).toEqual(['two']);
    expect(await names({ tags: { env: 'prod' } })).toEqual(['one', 'three']);
    expect(await names({ tags: { env: 'prod', team: 'x' } })).toEqual(['three']);
  });

  it('pages with X-Next-Cursor without skips or repeats while snapshots come and go', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const ids: Record<string, string> = {};
    for (const name of ['s1', 's2', 's3', 's4', 's5']) {
      ids[name] = (await snapshot(server, web.id, { name })).id;
    }
    const page = async (cursor?: string) => {
      const { data, response } = await server.client.GET('/snapshots', {
        params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } },
      });
      return { names: data?.map((s) => s.name), next: response.headers.get('X-Next-Cursor') };
    };
    const first = await page();
    expect(first.names).toEqual(['s1', 's2']);
    for (const name of ['s1', 's3']) {
      const gone = await server.client.DELETE('/snapshots/{snapshotId}', {
        params: { path: { snapshotId: ids[name]! } },
      });
      expect(gone.response.status).toBe(204);
    }
    await snapshot(server, web.id, { name: 's6' });
    const second = await page(first.next!);
    expect(second.names).toEqual(['s4', 's5']);
    expect(await page(second.next!)).toEqual({ names: ['s6'], next: null });
  });

  it('gets one snapshot, and 404s for an unknown id', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const taken = await snapshot(server, web.id, { name: 'one' });
    const { data } = await server.client.GET('/snapshots/{snapshotId}', {
      params: { path: { snapshotId: taken.id } },
    });
    expect(data).toEqual(taken);
    const { error, response } = await server.client.GET('/snapshots/{snapshotId}', {
      params: { path: { snapshotId: 'nope' } },
    });
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'not_found' });
  });
});

describe('PATCH and DELETE /snapshots/{snapshotId}', () => {
  it('pins and replaces tags; refuses reserved keys and an empty patch', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const taken = await snapshot(server, web.id, { tags: { a: '1' } });
    const path = { params: { path: { snapshotId: taken.id } } };

    const pinned = await server.client.PATCH('/snapshots/{snapshotId}', {
      ...path,
      body: { pinned: true, tags: { b: '2' } },
    });
    expect(pinned.data).toMatchObject({ pinned: true, tags: { b: '2' } });
    const reserved = await server.client.PATCH('/snapshots/{snapshotId}', {
      ...path,
      body: { tags: { 'hypeman.scheduled': 'true' } },
    });
    expect(reserved.response.status).toBe(400);
    const empty = await server.client.PATCH('/snapshots/{snapshotId}', { ...path, body: {} });
    expect(empty.response.status).toBe(400);
    const missing = await server.client.PATCH('/snapshots/{snapshotId}', {
      params: { path: { snapshotId: 'nope' } },
      body: { pinned: true },
    });
    expect(missing.response.status).toBe(404);
  });

  it('deletes with 204 and no body, keeps the source instance, then answers 404', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const taken = await snapshot(server, web.id);
    const path = { params: { path: { snapshotId: taken.id } } };
    const gone = await server.client.DELETE('/snapshots/{snapshotId}', path);
    expect(gone.response.status).toBe(204);
    expect(gone.data).toBeUndefined();
    expect(gone.error).toBeUndefined();
    expect((await server.client.GET('/snapshots/{snapshotId}', path)).response.status).toBe(404);
    expect((await server.client.DELETE('/snapshots/{snapshotId}', path)).response.status).toBe(404);
    const source = await server.client.GET('/instances/{id}', { params: { path: { id: web.id } } });
    expect(source.data?.state).toBe('Running');
  });
});

describe('restore and fork', () => {
  it('restores an instance in place to the guest it was at snapshot time', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const vm = server.driver.vm(web.id)!;
    await vm.tick();
    const { bootId } = vm.guestState;
    const taken = await snapshot(server, web.id);
    await vm.tick();
    const path = { params: { path: { id: web.id, snapshotId: taken.id } } };

    const busy = await server.client.POST('/instances/{id}/snapshots/{snapshotId}/restore', path);
    expect(busy.response.status).toBe(409);
    expect(busy.error).toMatchObject({ code: 'invalid_state' });
    expect(busy.error?.message).toMatch(
      /in state Running; restore_snapshot requires Stopped or Standby/,
    );

    await server.client.POST('/instances/{id}/stop', { params: { path: { id: web.id } } });
    const { data, response } = await server.client.POST(
      '/instances/{id}/snapshots/{snapshotId}/restore',
      path,
    );
    expect(response.status).toBe(200);
    expect(data).toMatchObject({ id: web.id, state: 'Running' });
    expect(server.driver.vm(web.id)?.guestState).toEqual({ bootId, ticks: 1 });
  });

  it('refuses to restore another instance from a snapshot that is not its own (400)', async () => {
    const server = await sdkServer();
    const a = await instance(server, 'a');
    const b = await instance(server, 'b');
    const ofA = await snapshot(server, a.id);
    await server.client.POST('/instances/{id}/stop', { params: { path: { id: b.id } } });
    const { error, response } = await server.client.POST(
      '/instances/{id}/snapshots/{snapshotId}/restore',
      { params: { path: { id: b.id, snapshotId: ofA.id } }, body: { target_state: 'Running' } },
    );
    expect(response.status).toBe(400);
    expect(error?.message).toMatch(/fork it instead/);
  });

  it('forks a Standby snapshot into a new running instance that continues the guest', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    const vm = server.driver.vm(web.id)!;
    await vm.tick();
    await vm.tick();
    const taken = await snapshot(server, web.id);

    const { data, response } = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: taken.id } },
      body: { name: 'web-2', tags: { copy: 'yes' } },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({ name: 'web-2', state: 'Running', tags: { copy: 'yes' } });
    expect(data?.id).not.toBe(web.id);
    expect(server.driver.vm(data!.id)?.guestState).toEqual(vm.guestState);

    const cold = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: taken.id } },
      body: { name: 'web-3', target_state: 'Stopped' },
    });
    expect(cold.data).toMatchObject({ name: 'web-3', state: 'Stopped' });
    const taken2 = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: taken.id } },
      body: { name: 'web-2' },
    });
    expect(taken2.response.status).toBe(409);
    expect(taken2.error).toMatchObject({ code: 'already_exists' });
    const missing = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: 'nope' } },
      body: { name: 'web-4' },
    });
    expect(missing.response.status).toBe(404);
  });

  it('answers 400 for a target state a Stopped snapshot cannot give', async () => {
    const server = await sdkServer();
    const web = await instance(server, 'web-1');
    await server.client.POST('/instances/{id}/stop', { params: { path: { id: web.id } } });
    const cold = await snapshot(server, web.id);
    const { error, response } = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: cold.id } },
      body: { name: 'copy', target_state: 'Standby' },
    });
    expect(response.status).toBe(400);
    expect(error?.message).toMatch(/target_state Standby is not possible for a Stopped snapshot/);
  });
});
