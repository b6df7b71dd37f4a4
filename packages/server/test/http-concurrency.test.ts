/**
 * BB-29 over HTTP: concurrent snapshots and a standby on one instance serialize or conflict
 * cleanly. Clients fire `m1`, `m2`, `m1` and `standby` at once; a busy instance answers 409
 * `conflict` and such a client retries, as a real one would. Every answer is 2xx or 409, never a
 * 500; exactly one `m1` exists; the mock's call log shows no overlapping pause windows and
 * every pause closed by a resume or by the standby's intended exit; every listed snapshot
 * forks into a running guest and has exactly one payload on disk.
 */
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

type Server = Awaited<ReturnType<typeof sdkServer>>;
interface Answer {
  request: string;
  status: number;
  code?: string;
}

/** Sends `send` until it is not 409 `conflict` (busy), recording every answer. */
async function untilNotBusy(
  answers: Answer[],
  request: string,
  send: () => Promise<{ response: Response; error?: { code: string } }>,
) {
  for (;;) {
    const { response, error } = await send();
    answers.push({ request, status: response.status, code: error?.code });
    if (error?.code !== 'conflict') return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function fireAll(server: Server, id: string, answers: Answer[]) {
  const snap = (name: string) => () =>
    server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id } },
      body: { name },
    });
  return Promise.all([
    untilNotBusy(answers, 'm1', snap('m1')),
    untilNotBusy(answers, 'm2', snap('m2')),
    untilNotBusy(answers, 'm1', snap('m1')),
    untilNotBusy(answers, 'standby', () =>
      server.client.POST('/instances/{id}/standby', { params: { path: { id } }, body: {} }),
    ),
  ]);
}

async function checkOutcome(server: Server, id: string, answers: Answer[]) {
  // Only 2xx and 409s; the final answer of each request is success or a clean refusal.
  for (const a of answers) {
    expect([200, 201, 409], JSON.stringify(a)).toContain(a.status);
    if (a.status === 409) expect(['conflict', 'already_exists']).toContain(a.code);
  }
  const { data: snapshots } = await server.client.GET('/snapshots', {
    params: { query: { source_instance_id: id } },
  });
  expect(snapshots?.filter((s) => s.name === 'm1')).toHaveLength(1);
  expect(snapshots?.filter((s) => s.name === 'm2')).toHaveLength(1);
  expect(answers.filter((a) => a.request === 'm1' && a.status === 201)).toHaveLength(1);
  expect(answers.filter((a) => a.code === 'already_exists')).toEqual([
    { request: 'm1', status: 409, code: 'already_exists' },
  ]);

  // The standby was accepted, so that is where the instance ends.
  const { data: instance } = await server.client.GET('/instances/{id}', {
    params: { path: { id } },
  });
  expect(instance?.state).toBe('Standby');

  // Pause windows never overlap and each one closed: by a resume or the standby's exit.
  const windows = server.driver.calls.pauseWindows(id);
  for (const [i, w] of windows.entries()) {
    expect(w.closedBy).not.toBe('open');
    const next = windows[i + 1];
    if (next && w.resumedAt !== undefined)
      expect(next.pausedAt).toBeGreaterThanOrEqual(w.resumedAt);
  }
  expect(server.driver.calls.violations(id)).toEqual([]);

  // Every listed snapshot restores (forks into a running guest) and owns one payload dir.
  const dirs = (await readdir(server.deps.services.domain.paths.snapshots)).sort();
  expect(dirs).toEqual(snapshots?.map((s) => s.id).sort());
  for (const s of snapshots ?? []) {
    const fork = await server.client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId: s.id } },
      body: { name: `fork-${s.name}` },
    });
    expect(fork.data?.state, s.name ?? '').toBe('Running');
  }
}

describe('BB-29: concurrent operations on one instance', () => {
  it('serializes or refuses with 409 while a capture holds the instance', async () => {
    const server = await sdkServer();
    const { data } = await server.client.POST('/instances', {
      body: { name: 'inst-a', image: 'default', hypervisor: 'mock' },
    });
    const id = data!.id;
    // The first capture stays in flight until the clock moves, so the others meet it.
    server.driver.faults.inject('snapshot', { delayMs: 1_000 }, { match: id });
    const answers: Answer[] = [];
    const sleepers = server.clock.pendingTimers;

    // Time moves only once the capture sleeps on the clock (moved earlier, its delay would
    // never end) and another request has met the busy instance.
    const all = fireAll(server, id, answers);
    const deadline = Date.now() + 5_000;
    while (server.clock.pendingTimers <= sleepers || !answers.some((a) => a.code === 'conflict')) {
      if (Date.now() > deadline) throw new Error('no request met the busy instance');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await server.clock.advance(1_000);
    await all;

    await checkOutcome(server, id, answers);
  });

  it('holds the same invariants when the requests simply race', async () => {
    const server = await sdkServer();
    for (let round = 0; round < 5; round++) {
      const { data } = await server.client.POST('/instances', {
        body: { name: `race-${round}`, image: 'default', hypervisor: 'mock' },
      });
      const answers: Answer[] = [];
      await fireAll(server, data!.id, answers);
      const { data: snapshots } = await server.client.GET('/snapshots', {
        params: { query: { source_instance_id: data!.id } },
      });
      expect(answers.every((a) => [200, 201, 409].includes(a.status))).toBe(true);
      expect(snapshots?.filter((s) => s.name === 'm1')).toHaveLength(1);
      expect(server.driver.calls.violations(data!.id)).toEqual([]);
    }
  });
});
