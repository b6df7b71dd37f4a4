/**
 * Hypervisor failures over HTTP on the mock driver, for the refusals real QEMU cannot be made to
 * produce on demand (a pause, resume or capture the VMM fails while it stays alive). The real
 * QEMU cases (a kernel that cannot boot, a VMM killed mid-operation, a state QEMU will not
 * load) are in `http-hypervisor-failures.test.ts`.
 */
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

type Server = Awaited<ReturnType<typeof sdkServer>>;

async function running(server: Server, name = 'web') {
  const { data, response } = await server.client.POST('/instances', {
    body: { name, image: 'default', hypervisor: 'mock' },
  });
  expect(response.status).toBe(201);
  return data!;
}

async function stateOf(server: Server, id: string) {
  return (await server.client.GET('/instances/{id}', { params: { path: { id } } })).data?.state;
}

describe('hypervisor failures on the mock driver', () => {
  it('answers 400 to a create whose boot fails, and keeps no record and no files', async () => {
    const server = await sdkServer();
    server.driver.faults.inject('start', { fail: 'no bootable device' });

    const res = await server.client.POST('/instances', {
      body: { name: 'web', image: 'default', hypervisor: 'mock' },
    });

    expect(res.response.status).toBe(400);
    expect(res.error).toEqual({
      code: 'invalid_request',
      message:
        'the mock hypervisor could not start the guest of instance web: mock start failed: no bootable device; nothing was created; check the kernel, initrd and disk of image default (register a working one), or the requested vcpus and size',
      details: { hypervisor: 'mock', action: 'boot', failure: 'refused' },
    });
    expect((await server.client.GET('/instances', {})).data).toEqual([]);
    expect(await readdir(server.deps.services.domain.paths.instances)).toEqual([]);
  });

  it('answers 409 conflict to a pause the hypervisor refuses; the guest keeps running', async () => {
    const server = await sdkServer();
    const web = await running(server);
    server.driver.faults.inject('pause', { fail: 'vCPU 0 is busy' });

    const res = await server.client.POST('/instances/{id}/pause', {
      params: { path: { id: web.id } },
    });

    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({
      code: 'conflict',
      message:
        'the mock hypervisor failed pausing instance web: mock pause failed: vCPU 0 is busy; web keeps running; retry the pause',
    });
    expect(await stateOf(server, web.id)).toBe('Running');
  });

  it('answers 409 conflict to a failed resume; the instance stays Paused', async () => {
    const server = await sdkServer();
    const web = await running(server);
    const path = { params: { path: { id: web.id } } };
    expect((await server.client.POST('/instances/{id}/pause', path)).data?.state).toBe('Paused');
    server.driver.faults.inject('resume', { fail: 'vCPU 0 stuck' });

    const res = await server.client.POST('/instances/{id}/resume', path);

    expect(res.response.status).toBe(409);
    expect(res.error?.code).toBe('conflict');
    expect(res.error?.message).toMatch(
      /^the mock hypervisor failed resuming instance web: .*vCPU 0 stuck; web stays Paused; retry the resume, or stop the instance$/,
    );
    expect(await stateOf(server, web.id)).toBe('Paused');
  });

  it('answers 409 conflict to a standby whose capture fails; no state is kept, the guest runs', async () => {
    const server = await sdkServer();
    const web = await running(server);
    server.driver.faults.inject('snapshot', { fail: 'disk full' });

    const res = await server.client.POST('/instances/{id}/standby', {
      params: { path: { id: web.id } },
    });

    expect(res.response.status).toBe(409);
    expect(res.error?.message).toMatch(
      /^the mock hypervisor failed saving the state of instance web: .*disk full; no state was saved; retry the standby$/,
    );
    expect(await stateOf(server, web.id)).toBe('Running');
    const dir = server.deps.services.domain.paths.instance(web.id);
    expect((await readdir(dir)).filter((f) => f.includes('standby'))).toEqual([]);
    expect(server.driver.calls.violations(web.id)).toEqual([]);
  });

  it('says a failed standby left the guest paused when its resume failed too', async () => {
    const server = await sdkServer();
    const web = await running(server);
    server.driver.faults.inject('snapshot', { fail: 'disk full' });
    server.driver.faults.inject('resume', { fail: 'stuck' });

    const res = await server.client.POST('/instances/{id}/standby', {
      params: { path: { id: web.id } },
    });

    expect(res.response.status).toBe(409);
    expect(res.error?.message).toMatch(
      /disk full; no state was saved, and the guest is left paused: resuming it failed too and is retried; retry the standby once it runs$/,
    );
    const after = await server.client.GET('/instances/{id}', { params: { path: { id: web.id } } });
    expect(after.data).toMatchObject({ state: 'Paused' });
    expect(after.data?.state_error).toMatch(/could not be resumed after a failed standby/);
  });

  it('answers 409 conflict to a snapshot whose capture fails; no record, no payload', async () => {
    const server = await sdkServer();
    const web = await running(server);
    server.driver.faults.inject('snapshot', { fail: 'disk full' });

    const res = await server.client.POST('/instances/{id}/snapshots', {
      params: { path: { id: web.id } },
      body: { name: 'nightly' },
    });

    expect(res.response.status).toBe(409);
    expect(res.error?.message).toMatch(
      /^the mock hypervisor failed snapshotting instance web: .*disk full; no snapshot was kept and web is back as it was; retry the snapshot$/,
    );
    expect((await server.client.GET('/snapshots', {})).data).toEqual([]);
    expect(await readdir(server.deps.services.domain.paths.snapshots)).toEqual([]);
    expect(await stateOf(server, web.id)).toBe('Running');
  });
});
