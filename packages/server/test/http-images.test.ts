/**
 * Every image operation through the generated SDK against a listening server: register from
 * host files (copied into the data dir), list, get and delete, with the main error codes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

const hostDirs: string[] = [];
afterEach(async () => {
  await closeTestApps();
  for (const dir of hostDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A kernel and an initrd on "the host", outside the data dir. */
async function hostFiles() {
  const dir = await mkdtemp(join(tmpdir(), 'vmkeep-image-host-'));
  hostDirs.push(dir);
  await writeFile(join(dir, 'vmlinuz'), 'kernel bytes');
  await writeFile(join(dir, 'initrd'), 'initrd bytes');
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd') };
}

describe('images', () => {
  it('registers an image by copying its files, then lists and gets it', async () => {
    const server = await sdkServer();
    const host = await hostFiles();
    const { data, response } = await server.client.POST('/images', {
      body: { name: 'alpine', kernel_path: host.kernel, initrd_path: host.initrd },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      name: 'alpine',
      disk_path: null,
      cmdline: 'console=ttyS0',
      size_bytes: 'kernel bytes'.length + 'initrd bytes'.length,
      created_at: '2025-03-01T00:00:00.000Z',
    });
    expect(data?.kernel_path.startsWith(server.deps.config.dataDir)).toBe(true);
    // A later change to the host file does not reach the image.
    await writeFile(host.kernel, 'changed');
    expect(await readFile(data!.kernel_path, 'utf8')).toBe('kernel bytes');

    const list = await server.client.GET('/images', {});
    expect(list.data?.map((i) => i.name)).toEqual(['alpine', 'default']);
    const one = await server.client.GET('/images/{name}', { params: { path: { name: 'alpine' } } });
    expect(one.data).toEqual(data);
  });

  it('answers 400 for a host path that does not exist or is relative', async () => {
    const server = await sdkServer();
    for (const kernel_path of ['/nonexistent/vmlinuz', 'relative/vmlinuz']) {
      const { error, response } = await server.client.POST('/images', {
        body: { name: 'broken', kernel_path },
      });
      expect(response.status, kernel_path).toBe(400);
      expect(error?.message).toMatch(/kernel_path/);
    }
    expect((await server.client.GET('/images', {})).data?.map((i) => i.name)).toEqual(['default']);
  });

  it('answers 409 already_exists for a taken name and 404 for an unknown one', async () => {
    const server = await sdkServer();
    const host = await hostFiles();
    const taken = await server.client.POST('/images', {
      body: { name: 'default', kernel_path: host.kernel },
    });
    expect(taken.response.status).toBe(409);
    expect(taken.error).toMatchObject({ code: 'already_exists' });
    const missing = await server.client.GET('/images/{name}', {
      params: { path: { name: 'nope' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'not_found' });
  });

  it('refuses to delete an image in use (409 conflict), then deletes it with 204', async () => {
    const server = await sdkServer();
    const { data: vm } = await server.client.POST('/instances', {
      body: { name: 'web-1', image: 'default', hypervisor: 'mock' },
    });
    const path = { params: { path: { name: 'default' } } };
    const used = await server.client.DELETE('/images/{name}', path);
    expect(used.response.status).toBe(409);
    expect(used.error).toMatchObject({ code: 'conflict' });
    expect(used.error?.message).toMatch(/used by 1 instance/);

    await server.client.DELETE('/instances/{id}', { params: { path: { id: vm!.id } } });
    const gone = await server.client.DELETE('/images/{name}', path);
    expect(gone.response.status).toBe(204);
    expect(gone.data).toBeUndefined();
    expect((await server.client.GET('/images/{name}', path)).response.status).toBe(404);
  });
});
