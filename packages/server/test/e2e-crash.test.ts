/**
 * A server killed in the middle of a snapshot, for real: `npm start`'s entry point runs as a
 * child process on a temp data dir with QEMU (TCG) and a 1 GiB guest; it is sent SIGKILL while
 * the snapshot's memory is being written into `snapshots/.tmp-<id>/`, then started again on
 * the same data dir. The restarted server must show no `creating` snapshot and no `.tmp-*` or
 * orphan payload, and the guest re-attached and running on. One guest runs at a time; every
 * process started here is ended in `afterAll`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const SECRET = 'e2e-crash-test-secret-0123456789abcdef';
const TICK = /^tick (\d+) uptime=\S+ boot_id=(\S+)$/;

let root: string;
let dataDir: string;
let server: ChildProcess | undefined;
/** Everything the current server process printed, for failure messages. */
let serverOutput = '';

/** Starts `packages/server/src/main.ts` on the data dir; resolves with a client once it listens. */
async function startServer(): Promise<VmkeepClient> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      VMKEEP_DATA_DIR: dataDir,
      VMKEEP_PORT: '0',
      VMKEEP_MOCK_HYPERVISOR: '0',
      VMKEEP_LOG_LEVEL: 'warn',
      JWT_SECRET: SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  serverOutput = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${serverOutput}`)),
      60_000,
    );
    const onData = (chunk: Buffer) => {
      serverOutput += chunk.toString();
      const m = /is listening on (http:\/\/\S+)/.exec(serverOutput);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${serverOutput}`));
    });
  });
  const token = await signToken(new TextEncoder().encode(SECRET), { ttlMs: 3_600_000 });
  return createClient({ baseUrl: url, token });
}

/** Ends the server process with `signal` and waits until it is gone. */
async function stopServer(signal: NodeJS.Signals): Promise<void> {
  const child = server;
  server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** Pids of the VMMs running from this data dir (their pid files), checked against /proc. */
async function vmmPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const id of await readdir(join(dataDir, 'instances')).catch(() => [] as string[])) {
    const text = await readFile(join(dataDir, 'instances', id, 'run', 'vmm.pid'), 'utf8').catch(
      () => '',
    );
    const pid = Number(text.trim());
    if (!pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dataDir)) pids.push(pid);
  }
  return pids;
}

async function ticksOf(client: VmkeepClient, id: string) {
  const { data } = await client.GET('/instances/{id}/logs', {
    params: { path: { id }, query: { tail: 10_000 } },
    parseAs: 'text',
  });
  return (data ?? '')
    .split('\n')
    .map((line) => TICK.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ n: Number(m[1]), bootId: m[2]! }));
}

async function waitForTicks(client: VmkeepClient, id: string, count: number) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ticks = await ticksOf(client, id);
    if (ticks.length >= count) return ticks;
    if (Date.now() > deadline) throw new Error(`${ticks.length} of ${count} ticks in time`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-e2e-crash-'));
  dataDir = join(root, 'data');
});

afterAll(async () => {
  await stopServer('SIGKILL');
  // The guest outlives a killed server by design; this test started it, so it ends it here.
  for (const pid of await vmmPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await rm(root, { recursive: true, force: true });
}, 60_000);

/** The steps share the server and the guest, in order. */
let client: VmkeepClient;
let id: string;

describe('a server killed during a snapshot', () => {
  it('restarts with no half-written snapshot and the guest re-attached, running on', async () => {
    // 1. A 1 GiB guest with a heartbeat.
    client = await startServer();
    const created = await client.POST('/instances', {
      body: { name: 'big', image: 'default', size: '1GB' },
    });
    expect(created.data).toMatchObject({ state: 'Running', size: '1024.0 MB' });
    id = created.data!.id;
    const before = await waitForTicks(client, id, 2);
    const bootId = before[0]!.bootId;
    const [vmmPid] = await vmmPids();
    expect(vmmPid).toBeGreaterThan(0);

    // 2. Snapshot, and kill the server once the memory is being written under `.tmp-<id>`.
    const snapshotsDir = join(dataDir, 'snapshots');
    const request = client
      .POST('/instances/{id}/snapshots', { params: { path: { id } }, body: { name: 'cut' } })
      .catch((error: unknown) => error);
    let inFlight: string[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const names = await readdir(snapshotsDir).catch(() => [] as string[]);
      const tmp = names.filter((n) => n.startsWith('.tmp-'));
      const memory = await Promise.all(
        tmp.map((n) => readdir(join(snapshotsDir, n)).then((f) => f.includes('memory.bin'))),
      ).catch(() => []);
      if (memory.some(Boolean)) {
        inFlight = names;
        break;
      }
      if (Date.now() > deadline) throw new Error('the snapshot never started writing memory');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await stopServer('SIGKILL');
    await request;
    // It was cut inside the capture: only the temporary directory, nothing published.
    const afterKill = await readdir(snapshotsDir);
    expect(inFlight.every((n) => n.startsWith('.tmp-'))).toBe(true);
    expect(afterKill.filter((n) => !n.startsWith('.'))).toEqual([]);
    // The guest's VMM outlives the server.
    expect(await vmmPids()).toEqual([vmmPid]);

    // 3. Restart on the same data dir: reconcile has cleaned up and re-attached the guest.
    client = await startServer();
    const { data: snapshots } = await client.GET('/snapshots', {});
    expect(snapshots).toEqual([]);
    expect(await readdir(snapshotsDir)).toEqual([]);
    const { data: instance } = await client.GET('/instances/{id}', { params: { path: { id } } });
    // Running, whatever instant the capture was cut at: its VMM survived, and a pause the
    // capture made is undone (the user never asked for one).
    expect(instance, serverOutput).toMatchObject({ state: 'Running', state_error: null });

    // 4. And it does run: it ticks on, the same boot (re-attached, never rebooted).
    expect(await vmmPids()).toEqual([vmmPid]);
    const now = (await ticksOf(client, id)).length;
    const later = await waitForTicks(client, id, now + 2);
    expect(later.every((t) => t.bootId === bootId)).toBe(true);
    expect((await ticksOf(client, id)).length).toBeGreaterThan(now);
  }, 300_000);

  // The cut capture had put its disk overlay on the live guest; attach merged it back, so the
  // next capture can put its own.
  it('snapshots the recovered guest again', async () => {
    const again = await client.POST('/instances/{id}/snapshots', {
      params: { path: { id } },
      body: { name: 'after' },
    });
    expect(again.response.status, serverOutput).toBe(201);
    expect(again.data).toMatchObject({ name: 'after', status: 'ready' });
    expect(await readdir(join(dataDir, 'snapshots'))).toEqual([again.data!.id]);
  }, 120_000);

  it('deletes the recovered guest, leaving no VMM, and stops cleanly', async () => {
    const gone = await client.DELETE('/instances/{id}', { params: { path: { id } } });
    expect(gone.response.status).toBe(204);
    expect(await vmmPids()).toEqual([]);
    const child = server!;
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    server = undefined;
  }, 60_000);
});
