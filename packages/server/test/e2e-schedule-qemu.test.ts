/**
 * A snapshot schedule on a real guest: the whole server with the QEMU driver (TCG here), the
 * project's default guest, real time, everything over HTTP through the vmkeep SDK. A 2 s
 * schedule with `max_count: 3` must capture at least 5 times in 15 s, keep exactly the newest
 * 3, leave a manual snapshot alone, and never stop the guest for longer than its captures
 * froze it: the heartbeat it prints every second stays one continuous boot.
 */
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleFollower } from './support/http-console.js';
import { type LiveServer, startLiveServer } from './support/http-live-server.js';

const BOOT_TIMEOUT_MS = 90_000;
const SCHEDULE_WINDOW_MS = 15_000;
/** The guest prints a heartbeat every second; a capture may freeze it for its downtime. */
const HEARTBEAT_MS = 1_000;
const GAP_SLACK_MS = 2_000;

let server: LiveServer;
let client: VmkeepClient;
let instanceId: string | undefined;

beforeAll(async () => {
  server = await startLiveServer({
    env: { VMKEEP_MIN_SCHEDULE_INTERVAL: '1s', VMKEEP_ON_EXIT: 'shutdown' },
  });
  client = createClient({ baseUrl: server.baseUrl, token: server.token });
});

afterAll(async () => {
  // Whatever happened above, no guest outlives the test.
  if (instanceId && server.services.instances.list().items.some((i) => i.id === instanceId)) {
    await server.services.instances.delete(instanceId);
  }
  await server.close();
});

/** Polls (real time) until `check` holds or `timeoutMs` passes; true if it held. */
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('a snapshot schedule on a real QEMU guest', () => {
  it('captures every 2 s without stopping the guest, keeps the newest 3, and spares the manual one', async () => {
    const { services } = server;

    // 1. A guest, and its heartbeat on the console.
    const created = await client.POST('/instances', {
      body: { name: 'e2e-schedule', image: 'default', size: '256MB', vcpus: 1, hypervisor: 'qemu' },
    });
    expect(created.response.status).toBe(201);
    const id = created.data!.id;
    instanceId = id;
    expect(created.data).toMatchObject({ state: 'Running', hypervisor: 'qemu' });
    const pid = services.instances.get(id).pid;
    const console = new ConsoleFollower(server.baseUrl, server.token, id);
    await console.waitForHeartbeats(2, BOOT_TIMEOUT_MS);

    // How long each capture froze the guest, from the snapshots as they are made.
    const downtimes: number[] = [];
    services.domain.events.on((event) => {
      if (event.type !== 'snapshot.created') return;
      downtimes.push(services.snapshots.get(event.snapshotId).downtimeMs ?? 0);
    });

    // 2. A manual snapshot.
    const manual = await client.POST('/instances/{id}/snapshots', {
      params: { path: { id } },
      body: { name: 'manual' },
    });
    expect(manual.response.status).toBe(201);

    // 3. The schedule: at least 5 captures within 15 s.
    const taken: string[] = [];
    services.scheduler.events.on('run-succeeded', (event) => {
      if (event.instanceId === id && event.snapshotId) taken.push(event.snapshotId);
    });
    const path = { params: { path: { id } } };
    const put = await client.PUT('/instances/{id}/snapshot-schedule', {
      ...path,
      body: { interval: '2s', retention: { max_count: 3 } },
    });
    expect(put.data).toMatchObject({ interval: '2s', retention: { max_count: 3 } });
    const putAt = Date.now();
    const inTime = await until(() => taken.length >= 5, SCHEDULE_WINDOW_MS);
    expect(inTime, `${taken.length} captures after ${Date.now() - putAt} ms`).toBe(true);

    // 4. Move the next run an hour away; a run in flight still prunes. Then all is quiet.
    await client.PUT('/instances/{id}/snapshot-schedule', {
      ...path,
      body: { interval: '1h', retention: { max_count: 3 } },
    });
    await services.scheduler.whenIdle();
    const schedule = (await client.GET('/instances/{id}/snapshot-schedule', path)).data!;
    expect(schedule.last_error).toBeNull();

    // 5. Exactly the newest 3 scheduled snapshots remain, all ready; the manual one as it was.
    const listed = await client.GET('/snapshots', {
      params: { query: { source_instance_id: id } },
    });
    const scheduled = listed.data!.filter((s) => s.schedule !== null);
    expect(scheduled.map((s) => s.id)).toEqual(taken.slice(-3));
    expect(scheduled.every((s) => s.status === 'ready' && s.kind === 'Standby')).toBe(true);
    expect(schedule.last_snapshot_id).toBe(taken.at(-1));
    const manualNow = await client.GET('/snapshots/{snapshotId}', {
      params: { path: { snapshotId: manual.data!.id } },
    });
    expect(manualNow.data).toEqual(manual.data);

    // 6. The heartbeat never stopped: one boot, no second kernel, no missing tick, and no
    //    silence longer than a tick plus the longest freeze (and some slack for a busy host).
    const seen = console.heartbeats().length;
    await console.waitForHeartbeats(seen + 2, 10_000);
    await console.stop();
    const beats = console.heartbeats();
    expect(new Set(beats.map((b) => b.bootId)).size).toBe(1);
    expect(beats.map((b) => b.n)).toEqual(beats.map((_, i) => beats[0]!.n + i));
    const fullLog = await client.GET('/instances/{id}/logs', {
      params: { path: { id }, query: { tail: 10_000 } },
      parseAs: 'text',
    });
    expect(fullLog.data?.match(/Linux version/g)).toHaveLength(1);
    const longestFreeze = Math.max(...downtimes);
    expect(downtimes.length).toBeGreaterThanOrEqual(6);
    const gaps = beats.slice(1).map((b, i) => b.at - beats[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_MS + longestFreeze + GAP_SLACK_MS);

    // 7. Delete everything; the guest's process is gone.
    expect((await client.DELETE('/instances/{id}/snapshot-schedule', path)).response.status).toBe(
      204,
    );
    for (const snapshot of listed.data!) {
      const deleted = await client.DELETE('/snapshots/{snapshotId}', {
        params: { path: { snapshotId: snapshot.id } },
      });
      expect(deleted.response.status).toBe(204);
    }
    expect((await client.DELETE('/instances/{id}', path)).response.status).toBe(204);
    instanceId = undefined;
    expect(pid).toEqual(expect.any(Number));
    expect(() => process.kill(pid!, 0)).toThrow(/ESRCH/);
  }, 180_000);
});
