import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
} from '../src/domain/errors.js';
import { createHarness, entries, type Harness } from './domain-harness.js';

const run = promisify(execFile);
let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});

afterEach(async () => {
  await h.close();
});

describe('images', () => {
  it('registers default once from the guest files, copied into the data dir', async () => {
    const image = h.images.get('default');
    expect(image.kernelPath).toBe(join(h.ctx.paths.image('default'), 'kernel'));
    expect(await readFile(image.kernelPath, 'utf8')).toBe('a kernel');
    expect(image.sizeBytes).toBe('a kernel'.length + 'an initrd'.length);
    const again = await h.images.ensureDefault({ kernel: '/nonexistent', initrd: '/nonexistent' });
    expect(again).toEqual(image);
  });

  it('copies host files so later changes to them never reach a guest', async () => {
    const kernel = join(h.hostDir, 'vmlinuz');
    const image = await h.images.create({ name: 'custom', kernel_path: kernel, cmdline: 'quiet' });
    await writeFile(kernel, 'changed');
    expect(await readFile(image.kernelPath, 'utf8')).toBe('a kernel');
    expect(h.images.view(image)).toMatchObject({
      name: 'custom',
      initrd_path: null,
      disk_path: null,
      cmdline: 'quiet',
      created_at: '2025-03-01T00:00:00.000Z',
    });
  });

  it.each([
    [{ name: 'Bad' }, /name "Bad" is not valid/],
    [{ kernel_path: 'vmlinuz' }, /kernel_path must be an absolute path/],
    [{ kernel_path: '/no/such/kernel' }, /kernel_path \/no\/such\/kernel does not exist/],
    [{ kernel_path: '/tmp' }, /kernel_path \/tmp is not a regular file/],
    [{ initrd_path: '/no/initrd' }, /initrd_path \/no\/initrd does not exist/],
    [{ kernel_path: '/proc/self/environ' }, /kernel_path \/proc\/self\/environ is empty/],
  ])('refuses %o with 400', async (overrides, message) => {
    const input = { name: 'custom', kernel_path: join(h.hostDir, 'vmlinuz'), ...overrides };
    const error = await h.images.create(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toMatch(message);
    expect(await entries(h.ctx.paths.images)).toEqual(['default']);
  });

  it('copies a sparse root disk without filling its holes', async () => {
    const disk = join(h.hostDir, 'rootfs.raw');
    await writeFile(disk, 'data at the start');
    await truncate(disk, 1024 ** 3);
    const image = await h.images.create({
      name: 'sparse',
      kernel_path: join(h.hostDir, 'vmlinuz'),
      disk_path: disk,
    });
    const copy = await stat(image.diskPath!);
    expect(copy.size).toBe(1024 ** 3);
    expect(copy.blocks * 512).toBeLessThan(1024 ** 2);
    const head = Buffer.alloc(17);
    const file = await open(image.diskPath!);
    await file.read(head, 0, 17, 0).finally(() => file.close());
    expect(head.toString()).toBe('data at the start');
  });

  it('refuses a qcow2 disk that is an overlay on a file outside the image', async () => {
    const base = join(h.hostDir, 'base.raw');
    const overlay = join(h.hostDir, 'overlay.qcow2');
    await writeFile(base, Buffer.alloc(1024 * 1024));
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
    const input = { name: 'backed', kernel_path: join(h.hostDir, 'vmlinuz'), disk_path: overlay };
    const error = await h.images.create(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toMatch(
      /is an overlay on .*base\.raw; register a standalone image \(qemu-img convert -O qcow2/,
    );
    expect(await entries(h.ctx.paths.images)).toEqual(['default']);
  });

  it('refuses a disk that is not a disk image', async () => {
    await writeFile(join(h.hostDir, 'disk.vmdk'), Buffer.from('KDMV'.padEnd(512, '\0')));
    const input = {
      name: 'custom',
      kernel_path: join(h.hostDir, 'vmlinuz'),
      disk_path: join(h.hostDir, 'disk.vmdk'),
    };
    await expect(h.images.create(input)).rejects.toThrow(/disk_path .* is not a usable disk image/);
  });

  it('refuses a taken name with 409 already_exists', async () => {
    await expect(
      h.images.create({ name: 'default', kernel_path: join(h.hostDir, 'vmlinuz') }),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
  });

  it('boots instances of an image with a root disk from an overlay on it', async () => {
    const root = join(h.hostDir, 'root.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', root, '64M']);
    const image = await h.images.create({
      name: 'with-disk',
      kernel_path: join(h.hostDir, 'vmlinuz'),
      disk_path: root,
    });
    expect(image.diskPath).toBe(join(h.ctx.paths.image('with-disk'), 'rootfs.qcow2'));
    const instance = await h.instances.create({ name: 'web', image: 'with-disk' });
    const { stdout } = await run('qemu-img', [
      'info',
      '--output=json',
      '-U',
      h.ctx.paths.instanceDisk(instance.id),
    ]);
    expect(JSON.parse(stdout)['backing-filename']).toBe(image.diskPath);
  });

  it('refuses to delete an image an instance or a snapshot still needs', async () => {
    const kernel = join(h.hostDir, 'vmlinuz');
    await h.images.create({ name: 'custom', kernel_path: kernel });
    await h.instances.create({ name: 'web', image: 'custom' });
    await expect(h.images.delete('custom')).rejects.toThrow(/used by 1 instance/);
    const snapshot = await h.snapshots.create('web');
    await h.instances.delete('web');
    const error = await h.images.delete('custom').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toMatch(/needed to restore 1 snapshot/);

    await h.snapshots.delete(snapshot.id);
    await h.images.delete('custom');
    expect(() => h.images.get('custom')).toThrow(NotFoundError);
    expect(await entries(h.ctx.paths.images)).toEqual(['default']);
  });

  it('settles every race between deleting an image and booting from it, never half-deleted', async () => {
    const kernel = join(h.hostDir, 'vmlinuz');
    const outcomes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const name = `race${i}`;
      await h.images.create({ name, kernel_path: kernel });
      const create = () => h.instances.create({ name: `vm${i}`, image: name });
      const remove = () => h.images.delete(name);
      // Both start orders: the one called first runs first up to its first await.
      let booting: ReturnType<typeof create>;
      let deleting: ReturnType<typeof remove>;
      if (i % 2 === 0) {
        booting = create();
        deleting = remove();
      } else {
        deleting = remove();
        booting = create();
      }
      const created = await booting.then(
        () => undefined,
        (error: unknown) => error,
      );
      const deleted = await deleting.then(
        () => undefined,
        (error: unknown) => error,
      );

      // Either the boot won (the image stays, in use) or the delete did (no instance).
      const record = h.ctx.repos.images.get(name);
      const files = (await entries(h.ctx.paths.images)).includes(name);
      if (created === undefined) {
        expect(deleted).toBeInstanceOf(ConflictError);
        expect([record !== undefined, files]).toEqual([true, true]);
        outcomes.add('boot won');
      } else {
        expect(created).toBeInstanceOf(NotFoundError);
        expect(deleted).toBeUndefined();
        expect([record, files]).toEqual([undefined, false]);
        outcomes.add('delete won');
      }
    }
    expect(outcomes.size).toBeGreaterThan(0);
  });

  it("refuses an instance name that is another instance's id", async () => {
    const web = await h.instances.create({ name: 'web', image: 'default' });
    await expect(h.instances.create({ name: web.id, image: 'default' })).rejects.toThrow(
      /is the id of another instance; choose a name that is not an id/,
    );
    const snapshot = await h.snapshots.create('web');
    await expect(h.snapshots.fork(snapshot.id, { name: web.id })).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
  });

  it('lists images by name', async () => {
    await mkdir(join(h.hostDir, 'k'), { recursive: true });
    await h.images.create({ name: 'b-image', kernel_path: join(h.hostDir, 'vmlinuz') });
    await h.images.create({ name: 'a-image', kernel_path: join(h.hostDir, 'vmlinuz') });
    expect(h.images.list().map((i) => i.name)).toEqual(['a-image', 'b-image', 'default']);
    await chmod(join(h.hostDir, 'vmlinuz'), 0o644);
  });
});
