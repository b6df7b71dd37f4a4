import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudHypervisorApiError } from '../src/cloud-hypervisor/errors.js';
import type { SnapshotManifest, Vm } from '../src/types.js';
import { ResumeAfterSnapshotError } from '../src/types.js';
import { type ChTestBed, createTestBed, diskContent } from './fake-ch/harness.js';

let bed: ChTestBed;
let vm: Vm;
let snapDir: string;
const createdAt = new Date('2025-03-01T00:00:00Z');

beforeEach(async () => {
  bed = await createTestBed({ now: () => createdAt });
  vm = bed.track(await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run') }));
  snapDir = join(bed.dir, 'snap');
  await mkdir(snapDir);
});
afterEach(async () => {
  expect(bed.fake.violations).toEqual([]);
  await bed.cleanup();
});

/** The pause/snapshot/resume calls the VM received, in order. */
function stateCalls(): string[] {
  const verbs = new Set(['PUT /vm.pause', 'PUT /vm.snapshot', 'PUT /vm.resume']);
  return bed.fake.endpoints(vm.pid).filter((e) => verbs.has(e));
}

describe('CloudHypervisorVm.snapshot of a running guest', () => {
  it('pauses, copies the disks, snapshots, then resumes, in that order', async () => {
    // What the snapshot dir holds at each call shows when the driver copied the disk.
    const seen: string[] = [];
    bed.fake.onRequest(async (call) => {
      if (call.method !== 'PUT') return;
      const copy = join(snapDir, 'disk-disk0.raw');
      const copied = existsSync(copy) && (await readFile(copy)).equals(diskContent);
      seen.push(
        `${call.path} disk-copied=${copied} memory=${existsSync(join(snapDir, 'memory-ranges'))}`,
      );
    });

    await vm.snapshot(snapDir);

    expect(seen).toEqual([
      '/vm.pause disk-copied=false memory=false',
      '/vm.snapshot disk-copied=true memory=false',
      '/vm.resume disk-copied=true memory=true',
    ]);
    expect(await vm.status()).toBe('running');
  });

  it('asks CH to write into the directory by absolute file URL', async () => {
    await vm.snapshot(snapDir);
    const call = bed.fake.calls.find((c) => c.path === '/vm.snapshot');
    expect(call?.body).toEqual({ destination_url: `file://${snapDir}` });
  });

  it('writes a manifest with relative paths, roles, sizes and the pause time', async () => {
    const manifest = await vm.snapshot(snapDir);

    const onDisk = JSON.parse(
      await readFile(join(snapDir, 'manifest.json'), 'utf8'),
    ) as SnapshotManifest;
    expect(onDisk).toEqual(manifest);
    expect(manifest).toMatchObject({
      version: 1,
      hypervisor: 'cloud-hypervisor',
      hypervisorVersion: '53.0.0',
      kind: 'memory',
      runstateAtSnapshot: 'running',
      createdAt: '2025-03-01T00:00:00.000Z',
      spec: bed.spec,
    });
    expect(manifest.files).toEqual([
      { role: 'config', path: 'config.json', bytes: expect.any(Number) },
      { role: 'memory', path: 'memory-ranges', bytes: 64 * 1024 * 1024 },
      { role: 'device-state', path: 'state.json', bytes: expect.any(Number) },
      { role: 'disk', path: 'disk-disk0.raw', bytes: diskContent.length, diskId: 'disk0' },
    ]);
    for (const file of manifest.files) {
      expect((await stat(join(snapDir, file.path))).size).toBe(file.bytes);
    }
    expect(manifest.pauseMs).toBeGreaterThanOrEqual(0);
    expect(manifest.totalMs).toBeGreaterThanOrEqual(manifest.pauseMs);
  });

  it('counts the disk copy in the pause time', async () => {
    // A slow vm.snapshot stands in for a slow copy: both happen while the guest is frozen.
    bed.fake.fault('PUT /vm.snapshot', { delayMs: 150 }, 1);
    const manifest = await vm.snapshot(snapDir);
    expect(manifest.pauseMs).toBeGreaterThanOrEqual(150);
  });

  it('skips the disk copies when asked for memory and device state only', async () => {
    const manifest = await vm.snapshot(snapDir, { includeDisks: false });
    expect(manifest.files.map((f) => f.role)).not.toContain('disk');
    expect(await readdir(snapDir)).not.toContain('disk-disk0.raw');
  });
});

describe('CloudHypervisorVm.snapshot of a paused guest', () => {
  it('captures it without pausing or resuming it, and leaves it paused', async () => {
    await vm.pause();
    const before = stateCalls().length;

    const manifest = await vm.snapshot(snapDir);

    expect(stateCalls().slice(before)).toEqual(['PUT /vm.snapshot']);
    expect(manifest).toMatchObject({ runstateAtSnapshot: 'paused', pauseMs: 0 });
    expect(await vm.status()).toBe('paused');
  });
});

describe('CloudHypervisorVm.snapshot failures', () => {
  it('resumes the guest exactly once and removes partial files when vm.snapshot fails', async () => {
    bed.fake.fault('PUT /vm.snapshot', {
      status: 500,
      messages: ['Error from API', 'VM snapshot failed', 'No space left on device'],
    });

    const error = await vm.snapshot(snapDir).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(CloudHypervisorApiError);
    expect(error).toMatchObject({
      status: 500,
      messages: expect.arrayContaining(['No space left on device']),
    });
    expect(stateCalls()).toEqual(['PUT /vm.pause', 'PUT /vm.snapshot', 'PUT /vm.resume']);
    expect(await readdir(snapDir)).toEqual([]);
    expect(await vm.status()).toBe('running');
  });

  it('removes the disk copy and CH’s files when CH fails half-way', async () => {
    // CH's files appear, then the answer is an error: a failure after writing began.
    bed.fake.onRequest(async (call) => {
      if (call.path === '/vm.snapshot') await writeFile(join(snapDir, 'state.json'), '{}');
    });
    await expect(vm.snapshot(snapDir)).rejects.toThrow(/Failed to create snapshot file/);
    expect(await readdir(snapDir)).toEqual([]);
    expect(stateCalls().filter((c) => c === 'PUT /vm.resume')).toHaveLength(1);
  });

  it('does not resume a paused guest when its snapshot fails', async () => {
    await vm.pause();
    bed.fake.fault('PUT /vm.snapshot', { status: 500 });
    await expect(vm.snapshot(snapDir)).rejects.toThrow(CloudHypervisorApiError);
    expect(stateCalls()).toEqual(['PUT /vm.pause', 'PUT /vm.snapshot']);
    expect(await vm.status()).toBe('paused');
  });

  it('reports a failed resume after a complete snapshot, and keeps the snapshot', async () => {
    bed.fake.fault(
      'PUT /vm.resume',
      { status: 500, messages: ['Error from API', 'resume failed'] },
      1,
    );

    const error = await vm.snapshot(snapDir).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(ResumeAfterSnapshotError);
    const { manifest, cause } = error as ResumeAfterSnapshotError;
    expect(cause).toBeInstanceOf(CloudHypervisorApiError);
    expect(manifest.runstateAtSnapshot).toBe('running');
    const onDisk = JSON.parse(await readFile(join(snapDir, 'manifest.json'), 'utf8')) as unknown;
    expect(onDisk).toEqual(manifest);
    expect(await vm.status()).toBe('paused');
  });

  it('refuses a directory that is not empty, before touching the guest', async () => {
    await writeFile(join(snapDir, 'memory-ranges'), 'left over');
    await expect(vm.snapshot(snapDir)).rejects.toThrow(/is not empty/);
    expect(stateCalls()).toEqual([]);
    expect(await readFile(join(snapDir, 'memory-ranges'), 'utf8')).toBe('left over');
  });

  it('refuses a guest that is not booted', async () => {
    const created = bed.track(
      await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run2'), paused: true }),
    );
    await expect(created.snapshot(snapDir)).rejects.toThrow(/guest that is Created/);
    expect(bed.fake.endpoints(created.pid)).not.toContain('PUT /vm.pause');
  });

  it('resumes the guest and cleans up when the caller aborts during the disk copy', async () => {
    const controller = new AbortController();
    bed.fake.onRequest((call) => {
      if (call.path === '/vm.pause') controller.abort(new Error('caller gave up'));
    });
    await expect(vm.snapshot(snapDir, { signal: controller.signal })).rejects.toThrow(
      'caller gave up',
    );
    expect(stateCalls()).toEqual(['PUT /vm.pause', 'PUT /vm.resume']);
    expect(await readdir(snapDir)).toEqual([]);
    expect(await vm.status()).toBe('running');
  });
});
