import { spec } from '@vmkeep/api/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../src/app.js';
import { DomainError } from '../src/domain/errors.js';
import { createSpecAjv } from '../src/validation.js';
import { closeTestApps, testApp } from './foundation-app.js';

afterEach(closeTestApps);

async function appWithCapture() {
  const captured: unknown[] = [];
  const ctx = await testApp({
    handlers: {
      setInstanceSnapshotSchedule: (request) => {
        captured.push({ path: request.path, body: request.body });
        return {
          status: 200,
          body: {
            instance_id: request.path.id,
            interval: request.body.interval,
            name_prefix: request.body.name_prefix ?? null,
            metadata: request.body.metadata ?? {},
            retention: { max_count: request.body.retention.max_count ?? 0 },
            next_run_at: '2025-03-01T00:01:00Z',
            last_run_at: null,
            last_snapshot_id: null,
            last_error: null,
            created_at: '2025-03-01T00:00:00Z',
            updated_at: '2025-03-01T00:00:00Z',
          },
        };
      },
      listSnapshots: ({ query }) => {
        captured.push(query);
        return { status: 200, body: [] };
      },
      getInstanceLogs: ({ query }) => {
        captured.push(query);
        return { status: 200, contentType: 'text/plain', body: '' };
      },
    },
  });
  await addInstance(ctx);
  return { ...ctx, captured };
}

/**
 * The instance `inst-a` on the mock hypervisor: `/instances/{id}/...` requests are resolved
 * before their body or query is validated, so the instance must exist to reach validation.
 */
async function addInstance(ctx: Awaited<ReturnType<typeof testApp>>) {
  await ctx.deps.services.instances.create({
    name: 'inst-a',
    image: 'default',
    hypervisor: 'mock',
  });
}

const json = (auth: Record<string, string>) => ({ ...auth, 'Content-Type': 'application/json' });

async function errorsOf(res: Response) {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { code: string; details: { errors: unknown[] } };
  expect(body.code).toBe('invalid_request');
  return body.details.errors;
}

describe('request validation', () => {
  it('passes a valid body through to the handler unchanged', async () => {
    const { app, auth, captured } = await appWithCapture();
    const body = { interval: '1m', retention: { max_count: 0, max_age: '3m' } };
    const res = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: json(auth),
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(captured).toEqual([{ path: { id: 'inst-a' }, body }]);
  });

  it.each([
    [{ interval: 60, retention: { max_count: 1 } }, 'interval', 'must be string'],
    [{ retention: { max_count: 1 } }, 'interval', 'is required'],
    [{ interval: null, retention: { max_count: 1 } }, 'interval', 'must be string'],
    [{ interval: '1m' }, 'retention', 'is required'],
    [{ interval: '1m', retention: {} }, 'retention', 'must NOT have fewer than 1 properties'],
    [{ interval: '1m', retention: { max_count: -1 } }, 'retention.max_count', 'must be >= 0'],
    [{ interval: '1m', retention: { max_count: 1.5 } }, 'retention.max_count', 'must be integer'],
    [{ interval: '1m', retention: { keep: 1 } }, 'retention.keep', 'is not a known field'],
    [
      { interval: '1m', retention: { max_count: 1 }, kind: 'Standby' },
      'kind',
      'is not a known field',
    ],
    [
      { interval: '1m', retention: { max_count: 1 }, name_prefix: 'a'.repeat(48) },
      'name_prefix',
      'must NOT have more than 47 characters',
    ],
    [
      { interval: '1m', retention: { max_count: 1 }, name_prefix: 'Bad_Prefix' },
      'name_prefix',
      'must match pattern "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"',
    ],
    [
      { interval: '1m', retention: { max_count: 1 }, metadata: { 'bad key!': 'x' } },
      'metadata.bad key!',
      'key must match pattern "^[A-Za-z0-9 _.:/=+@-]+$"',
    ],
  ])('rejects %j naming the field', async (body, field, message) => {
    const { app, auth, captured } = await appWithCapture();
    const res = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: json(auth),
      body: JSON.stringify(body),
    });
    expect(await errorsOf(res)).toContainEqual({ location: 'body', field, message });
    expect(captured).toEqual([]);
  });

  it('accepts a name_prefix of exactly 47 characters and null', async () => {
    const { app, auth } = await appWithCapture();
    for (const prefix of ['a'.repeat(47), null]) {
      const res = await app.request('/instances/inst-a/snapshot-schedule', {
        method: 'PUT',
        headers: json(auth),
        body: JSON.stringify({ interval: '1m', retention: { max_count: 1 }, name_prefix: prefix }),
      });
      expect(res.status).toBe(200);
    }
  });

  it('answers malformed JSON with a JSON 400, not a 500', async () => {
    const { app, auth } = await appWithCapture();
    const res = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: json(auth),
      body: '{',
    });
    const [error] = await errorsOf(res);
    expect(error).toMatchObject({ location: 'body', field: '' });
    expect((error as { message: string }).message).toMatch(/^is not valid JSON/);
  });

  it('rejects a body that is not application/json', async () => {
    const { app, auth } = await appWithCapture();
    const res = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'text/plain' },
      body: '{"interval":"1m","retention":{"max_count":1}}',
    });
    expect(await errorsOf(res)).toEqual([
      {
        location: 'header',
        field: 'Content-Type',
        message: 'must be application/json, not text/plain',
      },
    ]);
  });

  it('requires the body where the spec does, and not where it is optional', async () => {
    const bodies: unknown[] = [];
    const ctx = await testApp({
      handlers: {
        createInstanceSnapshot: ({ body }) => {
          bodies.push(body);
          throw new DomainError('not_found', 'instance inst-a not found');
        },
      },
    });
    await addInstance(ctx);
    const { app, auth } = ctx;
    const missing = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: auth,
    });
    expect(await errorsOf(missing)).toEqual([
      { location: 'body', field: '', message: 'is required (send a JSON object)' },
    ]);
    // POST /instances/{id}/snapshots has an optional body: without one the handler gets none.
    const optional = await app.request('/instances/inst-a/snapshots', {
      method: 'POST',
      headers: auth,
    });
    expect(optional.status).toBe(404);
    expect(bodies).toEqual([undefined]);
  });

  it('answers 413 payload_too_large for a body over the limit', async () => {
    const { app, auth } = await appWithCapture();
    const res = await app.request('/instances/inst-a/snapshot-schedule', {
      method: 'PUT',
      headers: json(auth),
      body: JSON.stringify({
        interval: '1m',
        retention: { max_count: 1 },
        pad: 'x'.repeat(MAX_BODY_BYTES),
      }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
  });

  it('coerces query parameters to their types, fills defaults, reads deepObject tags', async () => {
    const { app, auth, captured } = await appWithCapture();
    const res = await app.request(
      '/snapshots?limit=20&kind=Stopped&tags[team]=backend&tags[env]=staging&ignored=1',
      { headers: auth },
    );
    expect(res.status).toBe(200);
    const logs = await app.request('/instances/inst-a/logs?follow=true', { headers: auth });
    expect(logs.status).toBe(200);
    expect(captured).toEqual([
      { limit: 20, kind: 'Stopped', tags: { team: 'backend', env: 'staging' } },
      { follow: true, tail: 100 },
    ]);
  });

  it('rejects bad query parameters naming each one', async () => {
    const { app, auth } = await appWithCapture();
    const res = await app.request('/snapshots?limit=0&kind=Paused&cursor=', { headers: auth });
    expect(await errorsOf(res)).toEqual([
      { location: 'query', field: 'kind', message: 'must be one of: Standby, Stopped' },
      { location: 'query', field: 'limit', message: 'must be >= 1' },
      { location: 'query', field: 'cursor', message: 'must NOT have fewer than 1 characters' },
    ]);
    const twice = await app.request('/snapshots?limit=1&limit=2', { headers: auth });
    expect(await errorsOf(twice)).toEqual([
      { location: 'query', field: 'limit', message: 'must be given once' },
    ]);
  });

  it('rejects a required query parameter that is missing', async () => {
    const ctx = await testApp();
    await addInstance(ctx);
    const { app, auth } = ctx;
    const res = await app.request('/instances/inst-a/wait', { headers: auth });
    expect(await errorsOf(res)).toEqual([
      { location: 'query', field: 'state', message: 'is required' },
    ]);
  });
});

// BB-34 item 4, and an upgrade guard: ajv-formats is pinned because its date-time rules have
// changed between versions; the server adds a stricter RFC 3339 check on top.
describe('date-time format', () => {
  const validate = createSpecAjv(spec.components.schemas as Record<string, unknown>).compile({
    type: 'string',
    format: 'date-time',
  });

  it.each(['2025-03-01T00:00:00Z', '2025-03-01T00:00:00.123Z', '2025-03-01T09:00:00+09:00'])(
    'accepts %s',
    (value) => expect(validate(value)).toBe(true),
  );

  it.each([
    '2025-03-01T00:00:00',
    '2025-03-01T00:00:00+09',
    '2025-03-01 00:00:00Z',
    '2025-02-30T00:00:00Z',
    '2025-03-01T24:00:00Z',
    '2025-03-01',
  ])('rejects %s', (value) => expect(validate(value)).toBe(false));
});
