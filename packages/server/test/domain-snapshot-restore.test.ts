import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRequestError, InvalidStateError, NotFoundError } from '../src/domain/errors.js';
import { createHarness, type Harness } from './domain-harness.js';

let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});

afterEach(async () => {
  h.driver.faults.releaseHangs();
  await h.close();
});

async function running(name = 'web') {
  return h.instances.create({ name, image: 'default' });
}

/** Calls the mock driver saw for one instance, by kind. */
const _calls = (id: string) => h.driver.calls.kinds(id);

describe('restore racing a delete of its snapshot', () => {
  it('answers not found when the delete held the snapshot first, and leaves the instance as it was', async () => {
    await running();
    await h.instances.stop('web');
    const snapshot = await h.snapshots.create('web');

    const deleted = h.snapshots.delete(snapshot.id);
    const restored = h.snapshots.restore('web', snapshot.id);

    await deleted;
    await expect(restored).rejects.toBeInstanceOf(NotFoundError);
    expect(h.instances.get('web').state).toBe('Stopped');
  });
});

describe('fork and restore', () => {
  async function inode(path: string) {
    return (await stat(path)).ino;
  }

  it('gives every fork its own disk files and continues the captured guest', async () => {
    const source = await running();
    const vm = h.driver.vm(source.id)!;
    await vm.tick();
    const snapshot = await h.snapshots.create('web');
    await vm.tick();

    const f1 = await h.snapshots.fork(snapshot.id, { name: 'f1' });
    const f2 = await h.snapshots.fork(snapshot.id, { name: 'f2', tags: { role: 'copy' } });
    expect(f1).toMatchObject({ state: 'Running', image: 'default', tags: {} });
    expect(f2.tags).toEqual({ role: 'copy' });
    expect(h.driver.vm(f1.id)!.guestState).toEqual({ bootId: vm.guestState.bootId, ticks: 1 });

    const disks = [
      h.ctx.paths.instanceDisk(source.id),
      h.ctx.paths.instanceDisk(f1.id),
      h.ctx.paths.instanceDisk(f2.id),
      join(h.ctx.paths.snapshot(snapshot.id), 'disk0.qcow2'),
    ];
    expect(new Set(await Promise.all(disks.map(inode))).size).toBe(4);
    const original = await readFile(disks[3]!);
    await writeFile(disks[1]!, 'the fork wrote here');
    // Buffer.equals: a deep toEqual over ~200 KiB of qcow2 takes seconds.
    expect((await readFile(disks[2]!)).equals(original)).toBe(true);
    expect((await readFile(disks[3]!)).equals(original)).toBe(true);
    expect((await readFile(disks[1]!)).equals(original)).toBe(false);
  });

  it('forks a Stopped snapshot into a stopped instance by default, and Running on request', async () => {
    await running();
    await h.instances.stop('web');
    const snapshot = await h.snapshots.create('web');
    expect((await h.snapshots.fork(snapshot.id, { name: 'cold' })).state).toBe('Stopped');
    const warm = await h.snapshots.fork(snapshot.id, { name: 'warm', target_state: 'Running' });
    expect(warm.state).toBe('Running');
    await expect(
      h.snapshots.fork(snapshot.id, { name: 'bad', target_state: 'Standby' }),
    ).rejects.toThrow('target_state Standby is not possible for a Stopped snapshot');
  });

  it('forks after the source instance is gone', async () => {
    await running();
    const snapshot = await h.snapshots.create('web');
    await h.instances.delete('web');
    const fork = await h.snapshots.fork(snapshot.id, {
      name: 'web-again',
      target_state: 'Standby',
    });
    expect(fork.state).toBe('Standby');
    await expect(h.instances.restore(fork.id)).resolves.toMatchObject({ state: 'Running' });
  });

  it('restores in place into fresh files each time, never sharing one with the snapshot', async () => {
    const source = await running();
    const vm = h.driver.vm(source.id)!;
    await vm.tick();
    const snapshot = await h.snapshots.create('web');
    await vm.tick();
    await h.instances.stop('web');

    const first = await h.snapshots.restore('web', snapshot.id);
    expect(first.state).toBe('Running');
    expect(h.driver.vm(source.id)!.guestState.ticks).toBe(1);
    const firstInode = await inode(h.ctx.paths.instanceDisk(source.id));
    await h.instances.stop('web');
    await h.snapshots.restore('web', snapshot.id, { target_state: 'Stopped' });
    const secondInode = await inode(h.ctx.paths.instanceDisk(source.id));
    const snapshotInode = await inode(join(h.ctx.paths.snapshot(snapshot.id), 'disk0.qcow2'));
    expect(new Set([firstInode, secondInode, snapshotInode]).size).toBe(3);
    expect(h.instances.get('web').state).toBe('Stopped');
  });

  it('restores a Standby snapshot into Standby, then the instance restores from it', async () => {
    await running();
    const snapshot = await h.snapshots.create('web');
    await h.instances.stop('web');
    const restored = await h.snapshots.restore('web', snapshot.id, { target_state: 'Standby' });
    expect(h.instances.view(restored).has_snapshot).toBe(true);
    await expect(h.instances.restore('web')).resolves.toMatchObject({ state: 'Running' });
  });

  it.each(['Running', 'Paused'] as const)(
    'refuses to restore in place while the instance is %s (allow-list)',
    async (state) => {
      await running();
      const snapshot = await h.snapshots.create('web');
      if (state === 'Paused') await h.instances.pause('web');
      await expect(h.snapshots.restore('web', snapshot.id)).rejects.toBeInstanceOf(
        InvalidStateError,
      );
      expect(h.instances.get('web').state).toBe(state);
    },
  );

  it("refuses another instance's snapshot with 400", async () => {
    await running('a');
    await running('b');
    const snapshot = await h.snapshots.create('a');
    await h.instances.stop('b');
    await expect(h.snapshots.restore('b', snapshot.id)).rejects.toThrow(
      /belongs to instance a, not b/,
    );
  });
});

describe('listing', () => {
  it('filters by source, kind, name and tags, and pages stably across changes', async () => {
    const a = await running('a');
    await running('b');
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(await h.snapshots.create('a', { name: `s${i}`, tags: { n: String(i % 2) } }));
    }
    await h.snapshots.create('b', { name: 's0' });
    await h.instances.stop('a');
    await h.snapshots.create('a', { name: 'cold', tags: { n: '1' } });

    const names = (q: Parameters<typeof h.snapshots.list>[0]) =>
      h.snapshots.list(q).items.map((s) => s.name);
    expect(names({ source_instance_id: a.id, kind: 'Stopped' })).toEqual(['cold']);
    expect(names({ name: 's0' })).toEqual(['s0', 's0']);
    expect(names({ source_instance_id: a.id, tags: { n: '1' } })).toEqual(['s1', 's3', 'cold']);
    expect(() => h.snapshots.list({ kind: 'Paused' })).toThrow(InvalidRequestError);

    const seen: (string | null)[] = [];
    let page = h.snapshots.list({ source_instance_id: a.id }, { limit: 2 });
    seen.push(...page.items.map((s) => s.name));
    await h.snapshots.delete(made[2]!.id);
    await h.snapshots.delete(made[0]!.id);
    await h.snapshots.create('a', { name: 'late' });
    while (page.nextCursor) {
      page = h.snapshots.list({ source_instance_id: a.id }, { limit: 2, cursor: page.nextCursor });
      seen.push(...page.items.map((s) => s.name));
    }
    expect(seen).toEqual(['s0', 's1', 's3', 's4', 'cold', 'late']);
  });
});
