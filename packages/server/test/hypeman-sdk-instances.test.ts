/**
 * hypeman's published TypeScript SDK (`@onkernel/hypeman`), unchanged, against a listening
 * vmkeep on the mock hypervisor: instances, their lifecycle and console, and snapshots use the
 * same paths, fields, codes and event framing, so a hypeman client works as it is.
 */
import Hypeman from '@onkernel/hypeman';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTestApps, sdkServer } from './foundation-app.js';

afterEach(closeTestApps);

async function hypemanAgainstVmkeep() {
  const server = await sdkServer();
  const hypeman = new Hypeman({ baseURL: server.baseUrl, apiKey: server.token, maxRetries: 0 });
  return { server, hypeman };
}

describe("hypeman's SDK against vmkeep", () => {
  it('creates, lists, gets and deletes instances', async () => {
    const { hypeman } = await hypemanAgainstVmkeep();
    const made = await hypeman.instances.create({
      name: 'web-1',
      image: 'default',
      size: '1GB',
      vcpus: 2,
      tags: { team: 'backend' },
    });
    expect(made).toMatchObject({
      name: 'web-1',
      image: 'default',
      state: 'Running',
      size: '1024.0 MB',
      vcpus: 2,
      tags: { team: 'backend' },
      has_snapshot: false,
    });
    await hypeman.instances.create({ name: 'web-2', image: 'default' });

    expect((await hypeman.instances.list()).map((i) => i.name)).toEqual(['web-1', 'web-2']);
    const tagged = await hypeman.instances.list({ tags: { team: 'backend' } });
    expect(tagged.map((i) => i.id)).toEqual([made.id]);
    expect(await hypeman.instances.list({ state: 'Stopped' })).toEqual([]);
    expect((await hypeman.instances.get('web-1')).id).toBe(made.id);

    await hypeman.instances.delete(made.id);
    await expect(hypeman.instances.get(made.id)).rejects.toMatchObject({
      status: 404,
      error: { code: 'not_found' },
    });
  });

  it('drives the lifecycle and waits for states', async () => {
    const { hypeman } = await hypemanAgainstVmkeep();
    const { id } = await hypeman.instances.create({ name: 'web-1', image: 'default' });
    expect((await hypeman.instances.stop(id)).state).toBe('Stopped');
    await expect(hypeman.instances.stop(id)).rejects.toMatchObject({
      status: 409,
      error: { code: 'invalid_state' },
    });
    expect((await hypeman.instances.start(id, {})).state).toBe('Running');
    expect((await hypeman.instances.standby(id)).state).toBe('Standby');
    expect((await hypeman.instances.restore(id)).state).toBe('Running');
    expect(await hypeman.instances.wait(id, { state: 'Running' })).toEqual({
      state: 'Running',
      state_error: null,
      timed_out: false,
    });
  });

  it('follows the console as server-sent events it can parse', async () => {
    const { server, hypeman } = await hypemanAgainstVmkeep();
    const { id } = await hypeman.instances.create({ name: 'web-1', image: 'default' });
    const { bootId } = server.driver.vm(id)!.guestState;
    const stream = await hypeman.instances.logs(id, { follow: true, tail: 2 });
    const lines: string[] = [];
    for await (const line of stream) {
      lines.push(line);
      if (lines.length === 2) break;
    }
    expect(lines).toEqual([
      'Linux version mock (vmkeep mock hypervisor)',
      `mock guest up boot_id=${bootId}`,
    ]);
  });

  it('takes, lists, gets, restores, forks and deletes snapshots', async () => {
    const { hypeman } = await hypemanAgainstVmkeep();
    const { id } = await hypeman.instances.create({ name: 'web-1', image: 'default' });
    const snapshot = await hypeman.instances.snapshots.create(id, {
      kind: 'Standby',
      name: 'before-upgrade',
      tags: { reason: 'upgrade' },
    });
    expect(snapshot).toMatchObject({
      kind: 'Standby',
      name: 'before-upgrade',
      source_instance_id: id,
      source_instance_name: 'web-1',
      tags: { reason: 'upgrade' },
    });
    await expect(
      hypeman.instances.snapshots.create(id, { kind: 'Standby', name: 'before-upgrade' }),
    ).rejects.toMatchObject({ status: 409, error: { code: 'already_exists' } });

    const listed = await hypeman.snapshots.list({ source_instance_id: id, kind: 'Standby' });
    expect(listed.map((s) => s.id)).toEqual([snapshot.id]);
    expect(await hypeman.snapshots.list({ tags: { reason: 'other' } })).toEqual([]);
    expect(await hypeman.snapshots.get(snapshot.id)).toEqual(listed[0]);

    await hypeman.instances.stop(id);
    const restored = await hypeman.instances.snapshots.restore(snapshot.id, {
      id,
      target_state: 'Running',
    });
    expect(restored).toMatchObject({ id, state: 'Running' });
    const fork = await hypeman.snapshots.fork(snapshot.id, { name: 'web-2' });
    expect(fork).toMatchObject({ name: 'web-2', state: 'Running' });

    await hypeman.snapshots.delete(snapshot.id);
    await expect(hypeman.snapshots.get(snapshot.id)).rejects.toMatchObject({ status: 404 });
    // The fork has its own disks: it outlives the snapshot it came from.
    expect((await hypeman.instances.get('web-2')).state).toBe('Running');
  });
});
