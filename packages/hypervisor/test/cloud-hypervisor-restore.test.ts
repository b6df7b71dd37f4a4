import { copyFile, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChVmConfig } from '../src/cloud-hypervisor/api-client.js';
import { CloudHypervisorApiError } from '../src/cloud-hypervisor/errors.js';
import { isAlive } from '../src/process/proc.js';
import type { RestoreRequest, VmSpec } from '../src/types.js';
import { type ChTestBed, createTestBed } from './fake-ch/harness.js';

let bed: ChTestBed;
let snapDir: string;
/** The restore target: a working copy of the snapshot's disk and a new serial log. */
let target: VmSpec;

beforeEach(async () => {
  bed = await createTestBed();
  const source = await bed.driver.start({ spec: bed.spec, runDir: join(bed.dir, 'run-source') });
  snapDir = join(bed.dir, 'snap');
  await mkdir(snapDir);
  await source.snapshot(snapDir);
  await source.kill();

  const work = join(bed.dir, 'restored');
  await mkdir(work);
  await copyFile(join(snapDir, 'disk-disk0.raw'), join(work, 'disk0.raw'));
  target = {
    ...bed.spec,
    disks: [{ ...bed.spec.disks[0]!, path: join(work, 'disk0.raw') }],
    serialLogPath: join(work, 'serial.log'),
  };
});
afterEach(async () => {
  expect(bed.fake.violations).toEqual([]);
  await bed.cleanup();
});

function request(overrides: Partial<RestoreRequest> = {}): RestoreRequest {
  return {
    snapshotDir: snapDir,
    spec: target,
    runDir: join(bed.dir, 'run-restored'),
    ...overrides,
  };
}

describe('CloudHypervisorDriver.restore', () => {
  it('starts a VMM with only its API socket and restores from a copy in the run dir', async () => {
    const vm = bed.track(await bed.driver.restore(request()));

    expect(bed.fake.endpoints(vm.pid).slice(0, 2)).toEqual(['GET /vmm.ping', 'PUT /vm.restore']);
    const restore = bed.fake.calls.find((c) => c.pid === vm.pid && c.path === '/vm.restore');
    const source = join(bed.dir, 'run-restored', 'restore-source');
    expect(restore?.body).toEqual({
      source_url: `file://${source}`,
      prefault: false,
      resume: true,
    });
    expect(await readlink(join(source, 'memory-ranges'))).toBe(join(snapDir, 'memory-ranges'));
    expect(await readlink(join(source, 'state.json'))).toBe(join(snapDir, 'state.json'));
  });

  it('points the config copy at the working disk and leaves the snapshot’s config alone', async () => {
    const before = await readFile(join(snapDir, 'config.json'), 'utf8');
    const vm = bed.track(await bed.driver.restore(request()));

    const copy = JSON.parse(
      await readFile(join(bed.dir, 'run-restored', 'restore-source', 'config.json'), 'utf8'),
    ) as ChVmConfig;
    expect(copy.disks).toEqual([
      expect.objectContaining({ id: 'disk0', path: target.disks[0]!.path }),
    ]);
    expect(copy.serial).toEqual({
      mode: 'File',
      file: join(bed.dir, 'run-restored', 'serial.fifo'),
    });
    expect(await readFile(join(snapDir, 'config.json'), 'utf8')).toBe(before);
    // The restored VMM opened the working copy, not the snapshot's or the source's disk.
    expect(bed.fake.vmms.get(vm.pid)?.config?.disks?.[0]?.path).toBe(target.disks[0]!.path);
  });

  it('on CH v52 and later lets vm.restore resume the guest', async () => {
    bed.fake.version = '52.0.0';
    const vm = bed.track(await bed.driver.restore(request()));
    expect(await vm.status()).toBe('running');
    expect(bed.fake.endpoints(vm.pid)).not.toContain('PUT /vm.resume');
  });

  it('before CH v52, which ignores resume, resumes the guest itself', async () => {
    bed.fake.version = '51.0.0';
    const vm = bed.track(await bed.driver.restore(request()));
    expect(await vm.status()).toBe('running');
    expect(bed.fake.endpoints(vm.pid).slice(1)).toEqual([
      'PUT /vm.restore',
      'GET /vm.info',
      'PUT /vm.resume',
      'GET /vm.info',
    ]);
  });

  it('leaves the guest paused when asked to', async () => {
    const vm = bed.track(await bed.driver.restore(request({ resume: false })));
    const restore = bed.fake.calls.find((c) => c.pid === vm.pid && c.path === '/vm.restore');
    expect(restore?.body).toMatchObject({ resume: false });
    expect(await vm.status()).toBe('paused');
    expect(bed.fake.endpoints(vm.pid)).not.toContain('PUT /vm.resume');
  });

  it('appends the restored guest’s serial output to the existing log', async () => {
    await writeFile(target.serialLogPath, 'before the snapshot\n');
    const vm = bed.track(await bed.driver.restore(request()));
    await vm.shutdown({ timeoutMs: 2000 });
    await expect
      .poll(() => readFile(target.serialLogPath, 'utf8'))
      .toBe('before the snapshot\nfake-ch 53.0.0: restored\n');
  });

  it('fails with CH’s reason and stops the VMM when a working copy is missing', async () => {
    const spec = { ...target, disks: [{ ...target.disks[0]!, path: join(bed.dir, 'gone.raw') }] };
    const error = await bed.driver.restore(request({ spec })).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(CloudHypervisorApiError);
    expect((error as CloudHypervisorApiError).messages.join(' ')).toContain('gone.raw');
    const pid = [...bed.fake.vmms.keys()].at(-1)!;
    await expect.poll(() => isAlive(pid)).toBe(false);
  });

  it('refuses a spec whose memory differs from the snapshot, before starting a VMM', async () => {
    const before = bed.fake.vmms.size;
    await expect(
      bed.driver.restore(request({ spec: { ...target, memoryMiB: 128 } })),
    ).rejects.toThrow(/memory is 67108864 bytes in the snapshot, 134217728 in the spec/);
    expect(bed.fake.vmms.size).toBe(before);
  });

  it('refuses a spec whose disk ids differ from the snapshot', async () => {
    const spec = { ...target, disks: [{ ...target.disks[0]!, id: 'root' }] };
    await expect(bed.driver.restore(request({ spec }))).rejects.toThrow(
      /disk ids are \[disk0\] in the snapshot, \[root\] in the spec/,
    );
  });

  it('refuses a snapshot taken by another hypervisor', async () => {
    const manifestPath = join(snapDir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, hypervisor: 'qemu' }));
    await expect(bed.driver.restore(request())).rejects.toThrow(/is a qemu snapshot/);
  });

  it('reports the 404 CH answers when the VMM already holds a VM', async () => {
    bed.fake.fault('PUT /vm.restore', {
      status: 404,
      messages: ['Error from API', 'VM restore failed', 'VM is already created'],
    });
    await expect(bed.driver.restore(request())).rejects.toMatchObject({
      status: 404,
      messages: ['Error from API', 'VM restore failed', 'VM is already created'],
    });
  });
});
