/**
 * BB-33 for the instance and snapshot routes: a request for an instance that does not exist is
 * a 404 before its body or query is judged (the order openapi.yaml documents), except GET and
 * DELETE of a snapshot schedule, which go on to their handler with the raw id; encoded path
 * parameters stay inside their route; malformed JSON is a JSON 400; and every error is
 * `application/json` with `code` and `message`.
 */
import { operationTable } from '@vmkeep/api';
import { createClient } from '@vmkeep/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../src/domain/errors.js';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

/** Asserts the API's error shape and returns the body. */
async function apiError(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { code: string; message: string };
  expect(body).toEqual(
    expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
  );
  return body;
}

const LENIENT = ['getInstanceSnapshotSchedule', 'deleteInstanceSnapshotSchedule'];
const onInstances = operationTable.filter(
  (op) => op.path.startsWith('/instances/{id}') && !LENIENT.includes(op.operationId),
);

describe('BB-33: instance resolution comes first', () => {
  it.each(onInstances.map((op) => [op.operationId, op] as const))(
    '%s on a missing instance is a 404 even with an invalid body and query',
    async (_, op) => {
      const server = await sdkServer();
      const url = `${server.baseUrl}${op.path.replace('{id}', 'nope').replace('{snapshotId}', 'x')}`;
      const init: RequestInit = {
        method: op.method.toUpperCase(),
        headers: { ...server.auth, 'Content-Type': 'application/json' },
      };
      if (op.requestBody) init.body = '{"not_a_field": [1, 2';
      // `wait` misses its required `state`; `logs` gets a tail out of range.
      const res = await fetch(`${url}?tail=-1`, init);
      const body = await apiError(res, 404);
      expect(body).toMatchObject({ code: 'not_found', message: 'instance nope not found' });
    },
  );

  it('lets GET and DELETE of a schedule reach their handler with the raw id of a gone instance', async () => {
    const seen: string[] = [];
    const server = await sdkServer({
      handlers: {
        getInstanceSnapshotSchedule: ({ path }) => {
          seen.push(`get ${path.id}`);
          throw new DomainError('not_found', `no schedule for ${path.id}`);
        },
        deleteInstanceSnapshotSchedule: ({ path }) => {
          seen.push(`delete ${path.id}`);
          return { status: 204 };
        },
        setInstanceSnapshotSchedule: ({ path }) => {
          seen.push(`put ${path.id}`);
          throw new Error('unreachable: the instance does not exist');
        },
      },
    });
    const path = { params: { path: { id: 'gone-1' } } };
    const got = await server.client.GET('/instances/{id}/snapshot-schedule', path);
    expect(got.error).toMatchObject({ code: 'not_found', message: 'no schedule for gone-1' });
    const deleted = await server.client.DELETE('/instances/{id}/snapshot-schedule', path);
    expect(deleted.response.status).toBe(204);
    const put = await server.client.PUT('/instances/{id}/snapshot-schedule', {
      ...path,
      body: { interval: 'bogus', retention: {} },
    });
    expect(put.response.status).toBe(404);
    expect(seen).toEqual(['get gone-1', 'delete gone-1']);
  });

  it('still answers 409 ambiguous before the body for a prefix of several instances', async () => {
    const server = await sdkServer();
    const ids: string[] = [];
    for (let i = 0; i < 27; i++) {
      const { data } = await server.client.POST('/instances', {
        body: { name: `vm-${i}`, image: 'default' },
      });
      ids.push(data!.id);
    }
    const letter = ids.map((id) => id[0]).find((c, i, all) => all.indexOf(c) !== i)!;
    const res = await fetch(`${server.baseUrl}/instances/${letter}/snapshots`, {
      method: 'POST',
      headers: { ...server.auth, 'Content-Type': 'application/json' },
      body: '{',
    });
    expect((await apiError(res, 409)).code).toBe('ambiguous');
  });
});

describe('BB-33: bodies of an existing instance', () => {
  it('answers malformed JSON and a non-JSON content type with a JSON 400', async () => {
    const server = await sdkServer();
    await server.client.POST('/instances', { body: { name: 'inst-a', image: 'default' } });
    const url = `${server.baseUrl}/instances/inst-a/snapshots`;
    const malformed = await fetch(url, {
      method: 'POST',
      headers: { ...server.auth, 'Content-Type': 'application/json' },
      body: '{',
    });
    expect(await apiError(malformed, 400)).toMatchObject({ code: 'invalid_request' });
    const text = await fetch(url, {
      method: 'POST',
      headers: { ...server.auth, 'Content-Type': 'text/plain' },
      body: '{"name":"x"}',
    });
    expect(await apiError(text, 400)).toMatchObject({ code: 'invalid_request' });
    const { data } = await server.client.GET('/snapshots', {});
    expect(data).toEqual([]);
  });
});

describe('BB-33: encoded path parameters', () => {
  it.each(['a%2Fb', '%E2%82%AC', 'a%2Fb%2Fstop'])(
    '/instances/%s answers 404 and never reaches another instance',
    async (raw) => {
      const server = await sdkServer();
      // An instance named `a`: `a%2Fb` must not be read as `a` followed by `/b`.
      await server.client.POST('/instances', { body: { name: 'a', image: 'default' } });
      for (const suffix of ['', '/stop', '/snapshots']) {
        const res = await fetch(`${server.baseUrl}/instances/${raw}${suffix}`, {
          method: suffix ? 'POST' : 'GET',
          headers: server.auth,
        });
        expect((await apiError(res, 404)).code, `${raw}${suffix}`).toBe('not_found');
      }
      const { data } = await server.client.GET('/instances/{id}', {
        params: { path: { id: 'a' } },
      });
      expect(data?.state).toBe('Running');
      expect((await server.client.GET('/snapshots', {})).data).toEqual([]);
    },
  );

  it('has the SDK send "a/b" as a%2Fb, which the server reads back as one id', async () => {
    const server = await sdkServer();
    const urls: string[] = [];
    const client = createClient({
      baseUrl: server.baseUrl,
      token: server.token,
      fetch: (request) => {
        urls.push(request.url);
        return fetch(request);
      },
    });
    const { error, response } = await client.GET('/instances/{id}', {
      params: { path: { id: 'a/b' } },
    });
    expect(urls).toEqual([`${server.baseUrl}/instances/a%2Fb`]);
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'not_found', message: 'instance a/b not found' });
  });
});
