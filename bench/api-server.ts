/**
 * The server side of the API benchmark, run as a child process so the load generator does not
 * share its event loop: `node --import tsx bench/api-server.ts vmkeep|bare`.
 *
 * - `vmkeep`: the real application (`createApp` over `createServices`, mock hypervisor) with
 *   100 instances, one of which has a schedule; answers IPC with the URL to load and a token.
 * - `bare`: one Hono route on `@hono/node-server` that returns a fixed JSON body (the bytes the
 *   parent sends over IPC, so both servers put the same bytes on the wire).
 *
 * Listens on 127.0.0.1 on a free port; stops, closing everything, on the IPC message `stop`.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pino from 'pino';
import { createApp } from '../packages/server/src/app.js';
import { signToken } from '../packages/server/src/auth.js';
import { systemClock } from '../packages/server/src/domain/clock.js';
import { capabilitiesOf } from '../packages/server/src/services.js';
import { createInstances, openMockStack } from './mock-stack.js';

/** Parent → child. */
export type ApiServerRequest = { type: 'stop' } | { type: 'body'; json: string };

/** Child → parent, once listening. */
export interface ApiServerReady {
  type: 'ready';
  url: string;
  headers: Record<string, string>;
}

/** A schedule's interval long enough that the scheduler never fires during the bench. */
const IDLE_SCHEDULE = { interval: '24h', retention: { max_count: 3 } };

/** What one server mode serves, and how to take it down. */
interface Target {
  fetch: Hono['fetch'];
  path: string;
  headers: Record<string, string>;
  close(): Promise<void>;
}

async function vmkeepServer(): Promise<Target> {
  const stack = await openMockStack();
  const ids = await createInstances(stack.services, 100);
  const id = ids[42]!;
  stack.services.schedules.put(id, IDLE_SCHEDULE);
  const jwtSecret = new Uint8Array(randomBytes(32));
  const app = createApp({
    config: stack.config,
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    jwtSecret,
    capabilities: capabilitiesOf(stack.services.drivers),
    services: stack.services,
  });
  const token = await signToken(jwtSecret, { ttlMs: 3_600_000 });
  return {
    fetch: app.fetch,
    path: `/instances/${id}/snapshot-schedule`,
    headers: { authorization: `Bearer ${token}` },
    close: stack.close,
  };
}

async function bareServer(json: string): Promise<Target> {
  const app = new Hono();
  app.get('/instances/:id/snapshot-schedule', (c) =>
    c.body(json, 200, { 'Content-Type': 'application/json' }),
  );
  const path = '/instances/bench/snapshot-schedule';
  return { fetch: app.fetch, path, headers: {}, close: async () => {} };
}

function nextMessage(): Promise<ApiServerRequest> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as ApiServerRequest)));
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (!process.send) throw new Error('api-server.ts runs as a child of the API benchmark (IPC)');
  if (mode !== 'vmkeep' && mode !== 'bare') throw new Error('usage: api-server.ts vmkeep|bare');
  let target: Target;
  if (mode === 'vmkeep') {
    target = await vmkeepServer();
  } else {
    const body = await nextMessage();
    if (body.type !== 'body') throw new Error('the bare server needs its body first');
    target = await bareServer(body.json);
  }
  const server = serve({ fetch: target.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const ready: ApiServerReady = {
    type: 'ready',
    url: `http://127.0.0.1:${port}${target.path}`,
    headers: target.headers,
  };
  process.send(ready);

  // The parent's `stop`, or its death (the IPC channel closes), ends the server.
  await Promise.race([
    nextMessage(),
    new Promise((resolve) => process.once('disconnect', () => resolve(undefined))),
  ]);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  (server as Server).closeAllConnections();
  await closed;
  await target.close();
  process.disconnect?.();
}

main().catch((error: unknown) => {
  process.stderr.write(`api-server: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
