/**
 * Every instance operation through the generated SDK against a listening server on the mock
 * hypervisor: create, read, list (filters, paging), the lifecycle verbs, wait and delete, with
 * the main error codes. The serial console has its own file (`http-instance-logs.test.ts`).
 */
import type { Schemas } from '@vmkeep/api';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

type Server = Awaited<ReturnType<typeof sdkServer>>;

async function create(
  server: Server,
  name: string,
  extra: Partial<Schemas['CreateInstanceRequest']> = {},
) {
  const { data, error, response } = await server.client.POST('/instances', {
    body: { name, image: 'default', hypervisor: 'mock', ...extra },
  });
  if (!data) throw new Error(`create ${name}: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

describe('POST /instances', () => {
  it('answers 201 with a running instance and the spec defaults (1 vCPU, 512 MB)', async () => {
    const server = await sdkServer();
    const { data, response } = await server.client.POST('/instances', {
      body: { name: 'web-1', image: 'default', env: { PORT: '8080' }, tags: { team: 'a' } },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      name: 'web-1',
      image: 'default',
      state: 'Running',
      state_error: null,
      vcpus: 1,
      size: '512.0 MB',
      hypervisor: 'mock',
      env: { PORT: '8080' },
      tags: { team: 'a' },
      created_at: '2025-03-01T00:00:00.000Z',
      started_at: '2025-03-01T00:00:00.000Z',
      stopped_at: null,
      has_snapshot: false,
    });
  });

  it('takes the size back in the form it answers with', async () => {
    const server = await sdkServer();
    const first = await create(server, 'big', { size: '1.5GB', vcpus: 2 });
    expect(first).toMatchObject({ size: '1.5 GB', vcpus: 2 });
    const again = await create(server, 'again', { size: first.size });
    expect(again.size).toBe('1.5 GB');
  });

  it.each([
    [{ tags: { 'hypeman.scheduled': 'true' } }, /reserved prefix "hypeman\."/],
    [{ tags: { 'vmkeep.owner': 'me' } }, /reserved prefix "vmkeep\."/],
    [{ size: '512Mb' }, /size/],
    [{ size: '100KB' }, /below the minimum|whole number of MiB/],
    [{ name: 'Bad_Name' }, /name/],
  ])('answers 400 invalid_request for %j', async (extra, message) => {
    const server = await sdkServer();
    const { error, response } = await server.client.POST('/instances', {
      body: { name: 'web-1', image: 'default', ...extra },
    });
    expect(response.status).toBe(400);
    expect(error).toMatchObject({ code: 'invalid_request' });
    expect(error?.message).toMatch(message);
  });

  it('answers 404 for an unknown image and 409 already_exists for a taken name', async () => {
    const server = await sdkServer();
    const missing = await server.client.POST('/instances', {
      body: { name: 'web-1', image: 'nope' },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'not_found', message: 'image nope not found' });
    await create(server, 'web-1');
    const taken = await server.client.POST('/instances', {
      body: { name: 'web-1', image: 'default' },
    });
    expect(taken.response.status).toBe(409);
    expect(taken.error).toMatchObject({ code: 'already_exists' });
  });
});

describe('GET /instances/{id}', () => {
  it('finds an instance by id, name or unique id prefix, and 404s otherwise', async () => {
    const server = await sdkServer();
    const made = await create(server, 'web-1');
    for (const ref of [made.id, 'web-1', made.id.slice(0, 10)]) {
      const { data } = await server.client.GET('/instances/{id}', {
        params: { path: { id: ref } },
      });
      expect(data?.id, ref).toBe(made.id);
    }
    const { error, response } = await server.client.GET('/instances/{id}', {
      params: { path: { id: 'nope' } },
    });
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'not_found' });
  });

  it('answers 409 ambiguous for a prefix of more than one id', async () => {
    const server = await sdkServer();
    // Ids start with one of 26 letters: of 27 instances, two share their first letter.
    const ids: string[] = [];
    for (let i = 0; i < 27; i++) ids.push((await create(server, `vm-${i}`)).id);
    const letter = ids.map((id) => id[0]).find((c, i, all) => all.indexOf(c) !== i)!;
    const { error, response } = await server.client.GET('/instances/{id}', {
      params: { path: { id: letter } },
    });
    expect(response.status).toBe(409);
    expect(error).toMatchObject({ code: 'ambiguous' });
  });
});

describe('GET /instances', () => {
  it('filters by state and by tags (exact, ANDed)', async () => {
    const server = await sdkServer();
    const a = await create(server, 'a', { tags: { team: 'x', env: 'prod' } });
    const b = await create(server, 'b', { tags: { team: 'x', env: 'dev' } });
    await create(server, 'c');
    await server.client.POST('/instances/{id}/stop', { params: { path: { id: b.id } } });

    const list = async (query: {
      state?: Schemas['InstanceState'];
      tags?: Record<string, string>;
    }) => (await server.client.GET('/instances', { params: { query } })).data?.map((i) => i.name);
    expect(await list({})).toEqual(['a', 'b', 'c']);
    expect(await list({ state: 'Stopped' })).toEqual(['b']);
    expect(await list({ state: 'Initializing' })).toEqual([]);
    expect(await list({ tags: { team: 'x' } })).toEqual(['a', 'b']);
    expect(await list({ tags: { team: 'x', env: 'prod' } })).toEqual([a.name]);
    expect(await list({ tags: { team: 'X' } })).toEqual([]);
  });

  it('pages with X-Next-Cursor without skips or repeats while instances come and go', async () => {
    const server = await sdkServer();
    for (const name of ['a', 'b', 'c', 'd', 'e']) await create(server, name);
    const page = async (cursor?: string) => {
      const { data, response } = await server.client.GET('/instances', {
        params: { query: cursor ? { limit: 2, cursor } : { limit: 2 } },
      });
      return { names: data?.map((i) => i.name), next: response.headers.get('X-Next-Cursor') };
    };

    const first = await page();
    expect(first.names).toEqual(['a', 'b']);
    expect(first.next).toEqual(expect.any(String));
    // One already seen and one not yet seen go away; a new one arrives.
    for (const id of ['b', 'c']) {
      await server.client.DELETE('/instances/{id}', { params: { path: { id } } });
    }
    await create(server, 'f');
    const second = await page(first.next!);
    expect(second.names).toEqual(['d', 'e']);
    const third = await page(second.next!);
    expect(third).toEqual({ names: ['f'], next: null });

    const all = await server.client.GET('/instances', {});
    expect(all.response.headers.get('X-Next-Cursor')).toBeNull();
    const bad = await server.client.GET('/instances', { params: { query: { cursor: 'bogus' } } });
    expect(bad.response.status).toBe(400);
  });
});

describe('lifecycle verbs', () => {
  it('stop, start, pause, resume, standby and restore move the instance as named', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    const path = { params: { path: { id } } };
    const c = server.client;

    const stopped = (await c.POST('/instances/{id}/stop', path)).data;
    expect(stopped).toMatchObject({ state: 'Stopped', stopped_at: expect.any(String) });
    expect((await c.POST('/instances/{id}/start', path)).data?.state).toBe('Running');
    expect((await c.POST('/instances/{id}/pause', path)).data?.state).toBe('Paused');
    expect((await c.POST('/instances/{id}/resume', path)).data?.state).toBe('Running');
    const bootId = server.driver.vm(id)?.guestState.bootId;
    const standby = (await c.POST('/instances/{id}/standby', { ...path, body: {} })).data;
    expect(standby).toMatchObject({ state: 'Standby', has_snapshot: true });
    const restored = (await c.POST('/instances/{id}/restore', path)).data;
    expect(restored).toMatchObject({ state: 'Running', has_snapshot: false });

    // The restored guest continues the same boot; it was not booted again.
    expect(bootId).toEqual(expect.any(String));
    expect(server.driver.vm(id)?.guestState.bootId).toBe(bootId);
  });

  it.each([
    [
      'stop',
      'Stopped',
      /cannot stop instance web-1 in state Stopped; stop requires Running or Paused/,
    ],
    ['start', 'Running', /cannot start instance web-1 in state Running; start requires Stopped/],
    ['resume', 'Running', /cannot resume instance web-1 in state Running; resume requires Paused/],
    [
      'restore',
      'Running',
      /cannot restore instance web-1 in state Running; restore requires Standby/,
    ],
  ] as const)(
    'answers %s in the wrong state with 409 invalid_state naming both states',
    async (verb, state, message) => {
      const server = await sdkServer();
      const { id } = await create(server, 'web-1');
      if (state === 'Stopped') {
        await server.client.POST('/instances/{id}/stop', { params: { path: { id } } });
      }
      const { error, response } = await server.client.POST(`/instances/{id}/${verb}`, {
        params: { path: { id } },
      });
      expect(response.status).toBe(409);
      expect(error).toMatchObject({ code: 'invalid_state', details: { state } });
      expect(error?.message).toMatch(message);
    },
  );

  it('answers 501 not_supported when the hypervisor cannot pause or stand by', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    server.driver.probe = async () => ({
      kind: 'mock',
      available: true,
      version: 'mock-1',
      features: ['snapshots'],
    });
    for (const verb of ['pause', 'standby'] as const) {
      const { error, response } = await server.client.POST(`/instances/{id}/${verb}`, {
        params: { path: { id } },
      });
      expect(response.status, verb).toBe(501);
      expect(error).toMatchObject({ code: 'not_supported' });
    }
    const { data } = await server.client.GET('/instances/{id}', { params: { path: { id } } });
    expect(data?.state).toBe('Running');
  });

  it('deletes with 204 and no body, then answers 404', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    const gone = await server.client.DELETE('/instances/{id}', { params: { path: { id } } });
    expect(gone.response.status).toBe(204);
    expect(gone.data).toBeUndefined();
    expect(gone.error).toBeUndefined();
    expect(server.driver.liveVms).toHaveLength(0);
    const again = await server.client.DELETE('/instances/{id}', { params: { path: { id } } });
    expect(again.response.status).toBe(404);
  });
});

describe('GET /instances/{id}/wait', () => {
  it('answers at once when the instance is already in the state', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    const { data } = await server.client.GET('/instances/{id}/wait', {
      params: { path: { id }, query: { state: 'Running' } },
    });
    expect(data).toEqual({ state: 'Running', state_error: null, timed_out: false });
  });

  it('answers when the state is reached, or with timed_out after the Go-duration timeout', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    let sleepers = server.clock.pendingTimers;
    const reached = server.client.GET('/instances/{id}/wait', {
      params: { path: { id }, query: { state: 'Stopped', timeout: '1m30s' } },
    });
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    await server.clock.advance(10_000);
    await server.client.POST('/instances/{id}/stop', { params: { path: { id } } });
    expect((await reached).data).toEqual({ state: 'Stopped', state_error: null, timed_out: false });

    sleepers = server.clock.pendingTimers;
    const timedOut = server.client.GET('/instances/{id}/wait', {
      params: { path: { id }, query: { state: 'Running', timeout: '2s' } },
    });
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    await server.clock.advance(2_000);
    expect((await timedOut).data).toEqual({ state: 'Stopped', state_error: null, timed_out: true });
  });

  it('explains that Initializing, in the spec for hypeman, is never reached here', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    const { error, response } = await server.client.GET('/instances/{id}/wait', {
      params: { path: { id }, query: { state: 'Initializing' } },
    });
    expect(response.status).toBe(400);
    expect(error?.message).toMatch(/never reports state Initializing .* wait for Running/);
  });

  it('stops waiting when the client goes away, without logging an error', async () => {
    const logged: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logged.push(line) });
    const server = await sdkServer({ deps: { logger } });
    const { id } = await create(server, 'web-1');
    const sleepers = server.clock.pendingTimers;
    const client = new AbortController();
    const waiting = server.client
      .GET('/instances/{id}/wait', {
        params: { path: { id }, query: { state: 'Stopped', timeout: '5m' } },
        signal: client.signal,
      })
      .catch((error: unknown) => error);
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    client.abort();
    expect(await waiting).toBeInstanceOf(Error);
    // The server's wait ended (its timer is gone) and it logged no error for it.
    await waitUntil(() => server.clock.pendingTimers === sleepers);
    await waitUntil(() => logged.some((line) => line.includes('abandoned by the client')));
    expect(logged.filter((line) => JSON.parse(line).level >= 50)).toEqual([]);
  });

  it('answers 400 for a timeout that is not a Go duration, naming the field', async () => {
    const server = await sdkServer();
    const { id } = await create(server, 'web-1');
    for (const timeout of ['30', '1d', '-1s', 'abc']) {
      const { error, response } = await server.client.GET('/instances/{id}/wait', {
        params: { path: { id }, query: { state: 'Running', timeout } },
      });
      expect(response.status, timeout).toBe(400);
      expect(error?.details).toEqual({
        errors: [
          { location: 'query', field: 'timeout', message: expect.stringContaining(timeout) },
        ],
      });
    }
  });
});

/** Polls `check` on real time (a request in flight on the socket), at most 5 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition still false after 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
