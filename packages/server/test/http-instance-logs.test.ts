/**
 * `GET /instances/{id}/logs` through the SDK against a listening server: the tail as plain
 * text, and the follow as server-sent events that deliver lines the guest prints after the
 * request started, until the client disconnects or the instance is deleted.
 */
import { appendFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

type Server = Awaited<ReturnType<typeof sdkServer>>;

async function running(server: Server) {
  const { data } = await server.client.POST('/instances', {
    body: { name: 'web-1', image: 'default', hypervisor: 'mock' },
  });
  const vm = server.driver.vm(data!.id)!;
  return { id: data!.id, vm };
}

/** Reads server-sent events from a response body, one `data` value (JSON-decoded) at a time. */
function eventReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    /** The next event's data; undefined once the stream has ended. */
    async next(): Promise<string | undefined> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          expect(event).toMatch(/^data: /);
          return JSON.parse(event.slice('data: '.length)) as string;
        }
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

/** Polls `check` on real time (requests in flight on the socket), at most 5 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition still false after 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('GET /instances/{id}/logs without follow', () => {
  it('answers the last tail lines as text/plain', async () => {
    const server = await sdkServer();
    const { id, vm } = await running(server);
    for (let i = 0; i < 3; i++) await vm.tick();
    const { bootId } = vm.guestState;

    const { data, response } = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 2 } },
      parseAs: 'text',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(data).toBe(`tick 2 boot_id=${bootId}\ntick 3 boot_id=${bootId}\n`);

    const all = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id } },
      parseAs: 'text',
    });
    expect(all.data?.split('\n')[0]).toMatch(/^Linux version mock/);
  });

  it('answers 404 for an unknown instance and 400 for a tail out of range', async () => {
    const server = await sdkServer();
    const { id } = await running(server);
    const missing = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id: 'nope' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'not_found' });
    const tooMany = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 10_001 } },
    });
    expect(tooMany.response.status).toBe(400);
    expect(tooMany.error).toMatchObject({ code: 'invalid_request' });
  });
});

describe('GET /instances/{id}/logs?follow=true', () => {
  it('streams the tail, then a line the guest prints after the request started', async () => {
    const server = await sdkServer();
    const { id, vm } = await running(server);
    await vm.tick();
    const { bootId } = vm.guestState;
    const sleepers = server.clock.pendingTimers;

    const { response } = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 1, follow: true } },
      parseAs: 'stream',
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const events = eventReader(response.body!);
    expect(await events.next()).toBe(`tick 1 boot_id=${bootId}`);

    // The follower is now asleep on the clock, between two looks at the log.
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    await vm.tick();
    const next = events.next();
    await server.clock.advance(server.deps.services.domain.settings.logPollMs);
    expect(await next).toBe(`tick 2 boot_id=${bootId}`);

    // The client goes away: the follower stops (its timer is gone), nothing leaks.
    await events.cancel();
    await waitUntil(() => server.clock.pendingTimers === sleepers);
  });

  it('frames each line as one JSON string, so quotes or an inner CR stay in one event', async () => {
    const server = await sdkServer();
    const { id } = await running(server);
    const serial = server.deps.services.domain.paths.serialLog(id);
    // A serial console ends lines with CR LF: the line comes without its terminator.
    await appendFile(serial, 'say "hi"\r\nprogress 10%\rprogress 100%\r\n');

    const { response } = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 2, follow: true } },
      parseAs: 'stream',
    });
    const events = eventReader(response.body!);
    expect(await events.next()).toBe('say "hi"');
    expect(await events.next()).toBe('progress 10%\rprogress 100%');
    await events.cancel();

    const plain = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 2 } },
      parseAs: 'text',
    });
    expect(plain.data).toBe('say "hi"\nprogress 10%\rprogress 100%\n');
  });

  it('ends the stream when the instance is deleted', async () => {
    const server = await sdkServer();
    const { id } = await running(server);
    const sleepers = server.clock.pendingTimers;
    const { response } = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 0, follow: true } },
      parseAs: 'stream',
    });
    const events = eventReader(response.body!);
    await waitUntil(() => server.clock.pendingTimers > sleepers);
    await server.client.DELETE('/instances/{id}', { params: { path: { id } } });
    const end = events.next();
    await server.clock.advance(server.deps.services.domain.settings.logPollMs);
    expect(await end).toBeUndefined();
  });

  it('answers 404 before any stream starts for an unknown instance', async () => {
    const server = await sdkServer();
    const { error, response } = await server.client.GET('/instances/{id}/logs', {
      params: { path: { id: 'nope' }, query: { follow: true } },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(error).toMatchObject({ code: 'not_found' });
  });
});
