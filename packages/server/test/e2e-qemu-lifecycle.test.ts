/**
 * End to end on a real guest: the real services (`createServices`, QEMU under TCG, the mock
 * hypervisor off, the project's default image) behind the real app on a real socket, driven
 * through the generated SDK. One guest runs at a time (two cores), in real time.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { type LiveServer, startLiveServer } from './support/http-live-server.js';

const TICK = /^tick (\d+) uptime=\S+ boot_id=(\S+)$/;

let server: LiveServer;
let services: Services;
let client: VmkeepClient;

beforeAll(async () => {
  server = await startLiveServer({ env: { VMKEEP_MOCK_HYPERVISOR: '0' } });
  services = server.services;
  client = createClient({ baseUrl: server.baseUrl, token: server.token });
}, 120_000);

afterAll(async () => {
  // Whatever a failed test left running is killed, not left to outlive the run.
  for (const [id, vm] of services?.domain.runtime.entries() ?? []) {
    services.domain.runtime.take(id);
    await vm.kill().catch(() => undefined);
  }
  await server?.close();
}, 60_000);

interface Tick {
  n: number;
  bootId: string;
}

/** The console as the API serves it (plain text), and the heartbeat ticks in it. */
async function consoleOf(id: string): Promise<{ text: string; ticks: Tick[] }> {
  const { data } = await client.GET('/instances/{id}/logs', {
    params: { path: { id }, query: { tail: 10_000 } },
    parseAs: 'text',
  });
  const text = data ?? '';
  const ticks = text
    .split('\n')
    .map((line) => TICK.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ n: Number(m[1]), bootId: m[2]! }));
  return { text, ticks };
}

/** Polls the console (real time: a real guest) until `count` ticks are there. */
async function waitForTicks(id: string, count: number, timeoutMs = 90_000): Promise<Tick[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { ticks } = await consoleOf(id);
    if (ticks.length >= count) return ticks;
    if (Date.now() > deadline) throw new Error(`${id}: ${ticks.length} of ${count} ticks in time`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The first `count` heartbeat lines of a log follow (server-sent events, JSON strings). */
async function followTicks(id: string, count: number): Promise<Tick[]> {
  const { response } = await client.GET('/instances/{id}/logs', {
    params: { path: { id }, query: { tail: 10_000, follow: true } },
    parseAs: 'stream',
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const ticks: Tick[] = [];
  let buffer = '';
  try {
    while (ticks.length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the log stream ended early');
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const line = JSON.parse(buffer.slice('data: '.length, end)) as string;
        buffer = buffer.slice(end + 2);
        const m = TICK.exec(line);
        if (m) ticks.push({ n: Number(m[1]), bootId: m[2]! });
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    await reader.cancel();
  }
  return ticks;
}

/** Every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('a real QEMU guest over HTTP', () => {
  it('runs, snapshots without a reboot, forks where it was, and leaves only the snapshot', async () => {
    // 1. Create: 201 once the guest runs; the spec's defaults; a heartbeat on the console.
    const created = await client.POST('/instances', { body: { name: 'src', image: 'default' } });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({
      state: 'Running',
      hypervisor: 'qemu',
      vcpus: 1,
      size: '512.0 MB',
    });
    const src = created.data!.id;
    const first = await followTicks(src, 2);
    const bootId = first[0]!.bootId;

    // 2. A Standby snapshot: the guest keeps running the same boot, no second kernel banner.
    const lastBefore = (await consoleOf(src)).ticks.at(-1)!.n;
    const taken = await client.POST('/instances/{id}/snapshots', {
      params: { path: { id: 'src' } },
      body: { name: 'warm' },
    });
    expect(taken.response.status).toBe(201);
    expect(taken.data).toMatchObject({
      kind: 'Standby',
      status: 'ready',
      source_hypervisor: 'qemu',
    });
    const snapshotId = taken.data!.id;
    const got = await client.GET('/instances/{id}', { params: { path: { id: src } } });
    expect(got.data?.state).toBe('Running');
    const after = await waitForTicks(src, (await consoleOf(src)).ticks.length + 2);
    const firstAfter = after.find((t) => t.n > lastBefore)!.n;
    expect(after.every((t) => t.bootId === bootId)).toBe(true);
    expect((await consoleOf(src)).text.match(/Linux version/g)).toHaveLength(1);

    // 3. Stop the source: one guest at a time on two cores.
    const stopped = await client.POST('/instances/{id}/stop', { params: { path: { id: src } } });
    expect(stopped.data?.state).toBe('Stopped');

    // 4. Fork: the guest continues from its tick at snapshot time, same boot, no banner.
    const fork = await client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId } },
      body: { name: 'fork' },
    });
    expect(fork.response.status).toBe(201);
    expect(fork.data).toMatchObject({ name: 'fork', state: 'Running', hypervisor: 'qemu' });
    const forkTicks = await waitForTicks('fork', 2);
    expect(forkTicks[0]!.bootId).toBe(bootId);
    expect(forkTicks[0]!.n).toBeGreaterThan(lastBefore);
    expect(forkTicks[0]!.n).toBeLessThanOrEqual(firstAfter);
    expect((await consoleOf('fork')).text).not.toContain('Linux version');

    // 5. Delete both: what stays is the snapshot, the image and the database.
    for (const id of ['fork', 'src']) {
      const gone = await client.DELETE('/instances/{id}', { params: { path: { id } } });
      expect(gone.response.status, id).toBe(204);
    }
    expect(services.domain.runtime.entries()).toEqual([]);
    const left = await filesUnder(services.domain.paths.root);
    const stray = left.filter(
      (f) =>
        !f.startsWith(`snapshots/${snapshotId}/`) &&
        !f.startsWith('images/default/') &&
        // The server's own bookkeeping: its database and its claim on the data dir.
        !/^vmkeep\.(db(-wal|-shm)?|pid)$/.test(f),
    );
    expect(stray).toEqual([]);
    expect(left.some((f) => f.startsWith(`snapshots/${snapshotId}/`))).toBe(true);
    const list = await client.GET('/snapshots', {});
    expect(list.data?.map((s) => s.id)).toEqual([snapshotId]);
  }, 300_000);
});
