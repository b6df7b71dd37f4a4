/**
 * Hypervisor failures over HTTP, on real QEMU guests (TCG): a kernel QEMU cannot load, a VMM
 * killed with SIGKILL in the middle of a pause or a snapshot, a memory state QEMU refuses to
 * restore. Each answers with a declared 4xx, QEMU's own reason and what to do, and leaves no
 * half-created record, no QEMU process and no stray files. One guest runs at a time.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireDefaultGuestImage } from '@vmkeep/hypervisor';
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceKey } from '../src/domain/instances/resolve.js';
import type { Services } from '../src/services.js';
import { type LiveServer, startLiveServer } from './support/http-live-server.js';

let root: string;
let host: string;
let server: LiveServer;
let services: Services;
let client: VmkeepClient;

beforeAll(async () => {
  server = await startLiveServer({ env: { VMKEEP_MOCK_HYPERVISOR: '0' } });
  services = server.services;
  root = server.config.dataDir;
  // The guests here never finish booting before they are stopped: no power button to wait for.
  services.domain.settings.stopTimeoutMs = 500;
  client = createClient({ baseUrl: server.baseUrl, token: server.token });
  host = await mkdtemp(join(tmpdir(), 'vmkeep-h10-host-'));
}, 120_000);

afterAll(async () => {
  for (const [id, vm] of services?.domain.runtime.entries() ?? []) {
    services.domain.runtime.take(id);
    await vm.kill().catch(() => undefined);
  }
  for (const pid of await qemuPids()) process.kill(pid, 'SIGKILL');
  await server?.close();
  if (host) await rm(host, { recursive: true, force: true });
}, 60_000);

/** The default guest's kernel, as bytes. */
async function defaultKernel(): Promise<Buffer> {
  return readFile((await requireDefaultGuestImage()).kernel);
}

/** Pids of the QEMU processes running on this test's data dir. */
async function qemuPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('qemu-system') && cmdline.includes(root)) pids.push(Number(entry));
  }
  return pids;
}

/** Instance directories in the data dir (temporary and trash ones included). */
async function instanceDirs(): Promise<string[]> {
  return readdir(services.domain.paths.instances);
}

/** Registers an image from the default guest's initrd and the given kernel bytes. */
async function registerImage(name: string, kernel: Buffer | string): Promise<void> {
  const kernelPath = join(host, `${name}-vmlinuz`);
  await writeFile(kernelPath, kernel);
  const { initrd } = await requireDefaultGuestImage();
  const res = await client.POST('/images', {
    body: { name, kernel_path: kernelPath, initrd_path: initrd, cmdline: 'console=ttyS0' },
  });
  expect(res.response.status).toBe(201);
}

async function createRunning(name: string, image = 'default'): Promise<string> {
  const res = await client.POST('/instances', { body: { name, image, size: '256MB' } });
  expect(res.response.status, JSON.stringify(res.error)).toBe(201);
  return res.data!.id;
}

async function stateOf(id: string): Promise<string | undefined> {
  const res = await client.GET('/instances/{id}', { params: { path: { id } } });
  return res.data?.state;
}

/**
 * Freezes the instance's QEMU, sends `request`, and once the operation holds the instance's
 * lock (so it is talking to the frozen QEMU) kills QEMU with SIGKILL.
 */
async function killDuring<T>(id: string, operation: string, request: () => Promise<T>) {
  const pid = services.domain.runtime.get(id)!.pid;
  process.kill(pid, 'SIGSTOP');
  const pending = request();
  while (services.domain.locks.holder(instanceKey(id)) !== operation) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  process.kill(pid, 'SIGKILL');
  return pending;
}

/** Overwrites the memory file listed in the manifest of `dir` with bytes QEMU cannot load. */
async function corruptMemory(dir: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    files: { role: string; path: string }[];
  };
  const memory = manifest.files.find((f) => f.role === 'memory')!;
  await writeFile(join(dir, memory.path), Buffer.alloc(1024 * 1024, 'Z'));
}

describe('a kernel QEMU cannot load', () => {
  it.each([
    [
      'garbage',
      async () => Buffer.alloc(64 * 1024, 'Z'),
      /linux kernel too old to load a ram disk/,
    ],
    ['truncated', async () => (await defaultKernel()).subarray(0, 600), /invalid kernel header/],
  ])(
    'answers 400 for a %s kernel with QEMU’s reason and leaves nothing behind',
    async (kind, bytes, said) => {
      await registerImage(`broken-${kind}`, await bytes());

      const res = await client.POST('/instances', {
        body: { name: `bad-${kind}`, image: `broken-${kind}`, size: '256MB' },
      });

      expect(res.response.status).toBe(400);
      expect(res.error).toMatchObject({ code: 'invalid_request' });
      expect(res.error?.message).toMatch(
        new RegExp(`^QEMU could not start the guest of instance bad-${kind}: `),
      );
      expect(res.error?.message).toMatch(said);
      expect(res.error?.message).toContain(
        `check the kernel, initrd and disk of image broken-${kind}`,
      );
      const list = await client.GET('/instances', {});
      expect(list.data).toEqual([]);
      expect(await instanceDirs()).toEqual([]);
      expect(await qemuPids()).toEqual([]);
    },
    60_000,
  );

  it('answers 400 when a stopped instance’s kernel went bad, and the instance stays Stopped', async () => {
    await registerImage('custom', await defaultKernel());
    const id = await createRunning('c1', 'custom');
    const stopped = await client.POST('/instances/{id}/stop', { params: { path: { id } } });
    expect(stopped.data?.state).toBe('Stopped');
    const image = await client.GET('/images/{name}', { params: { path: { name: 'custom' } } });
    expect(image.response.status).toBe(200);
    await writeFile(join(services.domain.paths.image('custom'), 'kernel'), 'not a kernel');

    const res = await client.POST('/instances/{id}/start', { params: { path: { id } } });

    expect(res.response.status).toBe(400);
    expect(res.error).toMatchObject({ code: 'invalid_request' });
    expect(res.error?.message).toMatch(/^QEMU could not start the guest of instance c1: .*qemu: /);
    expect(res.error?.message).toContain('c1 stays Stopped');
    expect(await stateOf(id)).toBe('Stopped');
    expect(await qemuPids()).toEqual([]);
    const gone = await client.DELETE('/instances/{id}', { params: { path: { id } } });
    expect(gone.response.status).toBe(204);
  }, 90_000);
});

describe('a VMM killed with SIGKILL', () => {
  let id: string;

  it('answers 409 invalid_state to a pause it interrupts and records the instance Stopped', async () => {
    id = await createRunning('src');

    const res = await killDuring(id, 'pause', () =>
      client.POST('/instances/{id}/pause', { params: { path: { id } } }),
    );

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({
      code: 'invalid_state',
      details: { state: 'Stopped', exit: { signal: 'SIGKILL' } },
    });
    expect(res.error?.message).toMatch(
      /^the QEMU process of instance src was killed by SIGKILL before the pause could finish.*; src is now Stopped: start it again$/,
    );
    expect(await stateOf(id)).toBe('Stopped');
    expect(services.domain.runtime.get(id)).toBeUndefined();
    expect(await qemuPids()).toEqual([]);
  }, 90_000);

  it('answers 409 invalid_state to a snapshot it interrupts and keeps no snapshot', async () => {
    const started = await client.POST('/instances/{id}/start', { params: { path: { id } } });
    expect(started.data?.state).toBe('Running');

    const res = await killDuring(id, 'snapshot', () =>
      client.POST('/instances/{id}/snapshots', {
        params: { path: { id } },
        body: { name: 'lost' },
      }),
    );

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({ code: 'invalid_state' });
    expect(res.error?.message).toMatch(
      /^the QEMU process of instance src was killed by SIGKILL before the snapshot could finish.*; src is now Stopped: start it again$/,
    );
    expect(await stateOf(id)).toBe('Stopped');
    const snapshots = await client.GET('/snapshots', {});
    expect(snapshots.data).toEqual([]);
    expect(await readdir(services.domain.paths.snapshots)).toEqual([]);
    expect(await qemuPids()).toEqual([]);
  }, 90_000);
});

describe('a memory state QEMU refuses to load', () => {
  let id: string;
  let snapshotId: string;

  beforeAll(async () => {
    id = (await client.GET('/instances/{id}', { params: { path: { id: 'src' } } })).data!.id;
    const started = await client.POST('/instances/{id}/start', { params: { path: { id } } });
    expect(started.data?.state).toBe('Running');
    const taken = await client.POST('/instances/{id}/snapshots', {
      params: { path: { id } },
      body: { name: 'warm' },
    });
    expect(taken.response.status).toBe(201);
    snapshotId = taken.data!.id;
    const stopped = await client.POST('/instances/{id}/stop', { params: { path: { id } } });
    expect(stopped.data?.state).toBe('Stopped');
    await corruptMemory(services.domain.paths.snapshot(snapshotId));
  }, 180_000);

  it('answers 409 conflict to a fork, with QEMU’s reason, and creates nothing', async () => {
    const res = await client.POST('/snapshots/{snapshotId}/fork', {
      params: { path: { snapshotId } },
      body: { name: 'twin' },
    });

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({ code: 'conflict', details: { failure: 'restore' } });
    expect(res.error?.message).toMatch(
      new RegExp(`^QEMU could not restore fork twin of snapshot ${snapshotId}: .*qemu-system`),
    );
    expect(res.error?.message).toContain('nothing was created; fork it with target_state Stopped');
    const list = await client.GET('/instances', {});
    expect(list.data?.map((i) => i.name)).toEqual(['src']);
    expect(await instanceDirs()).toEqual([id]);
    expect(await qemuPids()).toEqual([]);
  }, 90_000);

  it('answers 409 conflict to an in-place restore and leaves the instance Stopped', async () => {
    const res = await client.POST('/instances/{id}/snapshots/{snapshotId}/restore', {
      params: { path: { id, snapshotId } },
      body: { target_state: 'Running' },
    });

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({ code: 'conflict' });
    expect(res.error?.message).toMatch(
      new RegExp(`^QEMU could not restore instance src from snapshot ${snapshotId}: .*qemu-system`),
    );
    expect(res.error?.message).toContain('src is left Stopped with the snapshot');
    expect(await stateOf(id)).toBe('Stopped');
    expect(await qemuPids()).toEqual([]);
    expect(await readdir(services.domain.paths.instance(id))).not.toContain('.tmp-restore');
  }, 90_000);

  it('answers 409 conflict to a restore from standby and keeps the instance in Standby', async () => {
    const started = await client.POST('/instances/{id}/start', { params: { path: { id } } });
    expect(started.data?.state).toBe('Running');
    const standby = await client.POST('/instances/{id}/standby', { params: { path: { id } } });
    expect(standby.data?.state).toBe('Standby');
    await corruptMemory(services.domain.paths.standbyDir(id));

    const res = await client.POST('/instances/{id}/restore', { params: { path: { id } } });

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({ code: 'conflict' });
    expect(res.error?.message).toMatch(
      /^QEMU could not restore instance src from its standby state: .*qemu-system/,
    );
    expect(res.error?.message).toContain('the state is kept and src stays in Standby');
    expect(await stateOf(id)).toBe('Standby');
    expect(await readdir(services.domain.paths.standbyDir(id))).toContain('manifest.json');
    expect(await qemuPids()).toEqual([]);
    const gone = await client.DELETE('/instances/{id}', { params: { path: { id } } });
    expect(gone.response.status).toBe(204);
    expect(await instanceDirs()).toEqual([]);
  }, 120_000);
});
