import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcile, scanOrphans } from '../src/domain/reconcile.js';
import { createHarness, entries, eventually, type Harness } from './domain-harness.js';

let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});

afterEach(async () => {
  await h.close();
});

describe('reconcile after a crash', () => {
  it('removes unfinished captures, half-done deletions and payloads without a record', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    const kept = await h.snapshots.create('web', { name: 'kept' });
    const lost = await h.snapshots.create('web', { name: 'lost' });
    const halfDeleted = await h.snapshots.create('web', { name: 'half' });

    // A capture the crash interrupted: `creating` record and its `.tmp-` dir.
    h.ctx.repos.snapshots.insert({
      ...h.ctx.repos.snapshots.get(kept.id)!,
      id: 'crashedcapture',
      name: 'crashed',
      status: 'creating',
    });
    await mkdir(h.ctx.paths.snapshotTmp('crashedcapture'), { recursive: true });
    await writeFile(join(h.ctx.paths.snapshotTmp('crashedcapture'), 'memory.bin'), 'partial');
    // A payload with no record, a record with no payload, a deletion cut short.
    await mkdir(h.ctx.paths.snapshot('orphanpayload'), { recursive: true });
    await h.ctx.fs.removeDir(h.ctx.paths.snapshot(lost.id));
    await h.ctx.fs.rename(
      h.ctx.paths.snapshot(halfDeleted.id),
      h.ctx.paths.snapshotTrash(halfDeleted.id),
    );
    // Leftovers in the instance and image dirs.
    await mkdir(h.ctx.paths.standbyTmp(instance.id), { recursive: true });
    await mkdir(h.ctx.paths.instanceTrash('gone'), { recursive: true });
    await mkdir(join(h.ctx.paths.images, '.tmp-half-image'), { recursive: true });
    expect((await scanOrphans(h.ctx)).length).toBeGreaterThan(0);

    h = await h.restart();
    const report = await reconcile(h.ctx);

    expect(report.removedSnapshots.sort()).toEqual(
      ['crashedcapture', halfDeleted.id, lost.id].sort(),
    );
    expect(h.snapshots.list().items.map((s) => s.id)).toEqual([kept.id]);
    expect(await entries(h.ctx.paths.snapshots)).toEqual([kept.id]);
    expect(await entries(h.ctx.paths.instances)).toEqual([instance.id]);
    expect(await entries(h.ctx.paths.instance(instance.id))).not.toContain('.tmp-standby');
    expect(await entries(h.ctx.paths.images)).toEqual(['default']);
    expect(await scanOrphans(h.ctx)).toEqual([]);
  });

  it('re-attaches guests whose VMM survived, in the state they are in', async () => {
    const running = await h.instances.create({ name: 'running', image: 'default' });
    const paused = await h.instances.create({ name: 'paused', image: 'default' });
    await h.instances.pause('paused');
    await h.driver.vm(running.id)!.tick();

    h = await h.restart();
    const report = await reconcile(h.ctx);

    expect(report.reattached.sort()).toEqual([running.id, paused.id].sort());
    expect(report.changed).toEqual([]);
    expect(h.driver.vm(running.id)!.guestState.ticks).toBe(1);
    await expect(h.instances.pause('running')).resolves.toMatchObject({ state: 'Paused' });
    await expect(h.instances.resume('paused')).resolves.toMatchObject({ state: 'Running' });
    // Exits are watched again: a guest powering off is noticed.
    await h.driver.vm(running.id)!.powerOff();
    await eventually(() => h.instances.get('running').state === 'Stopped');
  });

  it('resumes a guest an interrupted operation paused, but not one the user paused', async () => {
    const cut = await h.instances.create({ name: 'cut', image: 'default' });
    const forked = await h.instances.create({ name: 'forked', image: 'default' });
    const user = await h.instances.create({ name: 'user', image: 'default' });
    await h.instances.pause('user');
    // A capture (record Running) and a fork's restore (record Created) stopped their vCPUs,
    // then the server died before resuming them.
    await h.driver.vm(cut.id)!.pause();
    await h.driver.vm(forked.id)!.pause();
    h.ctx.repos.instances.update(forked.id, { state: 'Created' });

    h = await h.restart();
    await reconcile(h.ctx);

    expect(h.instances.get('cut')).toMatchObject({ state: 'Running', stateError: null });
    expect(h.instances.get('forked')).toMatchObject({ state: 'Running', stateError: null });
    expect(await h.driver.vm(cut.id)!.status()).toBe('running');
    expect(h.instances.get('user')).toMatchObject({ state: 'Paused', stateError: null });
    expect(await h.driver.vm(user.id)!.status()).toBe('paused');
  });

  it('reports and retries a guest an interrupted operation paused that will not resume', async () => {
    const cut = await h.instances.create({ name: 'cut', image: 'default' });
    await h.driver.vm(cut.id)!.pause();

    h = await h.restart();
    h.driver.faults.inject('resume', { fail: 'stuck' });
    await reconcile(h.ctx);

    const stuck = h.instances.get('cut');
    expect(stuck.state).toBe('Paused');
    expect(stuck.stateError).toMatch(/left paused by an operation the server was cut in/);
    // The retry loop resumes it once the fault is gone.
    await h.clock.advance(h.ctx.settings.resumeRetryInitialMs);
    await eventually(() => h.instances.get('cut').state === 'Running');
    expect(h.instances.get('cut').stateError).toBeNull();
  });

  it('marks guests whose VMM died Stopped, or Standby when their standby state is complete', async () => {
    const dead = await h.instances.create({ name: 'dead', image: 'default' });
    const sleeping = await h.instances.create({ name: 'sleeping', image: 'default' });
    await h.instances.standby('sleeping');
    // The VMM dies with the server (the record still says Running).
    await h.driver.vm(dead.id)!.kill();
    h.ctx.repos.instances.update(dead.id, { state: 'Running' });

    h = await h.restart();
    const report = await reconcile(h.ctx);

    expect(report.changed).toEqual([{ id: dead.id, from: 'Running', to: 'Stopped' }]);
    expect(h.instances.get('dead')).toMatchObject({ state: 'Stopped', pid: null });
    expect(h.instances.get(sleeping.id).state).toBe('Standby');
    await expect(h.instances.restore('sleeping')).resolves.toMatchObject({ state: 'Running' });
  });

  it('reports Unknown, allowing only delete, when a VMM cannot be reached after a restart', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    await h.driver.vm(instance.id)!.detach();
    await writeFile(join(h.ctx.paths.runDir(instance.id), 'mock-vm.json'), '{ torn');

    h = await h.restart();
    await reconcile(h.ctx);
    const unknown = h.instances.get('web');
    expect(unknown.state).toBe('Unknown');
    expect(unknown.stateError).toMatch(/could not reach its VMM after a restart/);
    await expect(h.instances.start('web')).rejects.toThrow(/in state Unknown/);
    await expect(h.snapshots.create('web')).rejects.toThrow(/in state Unknown/);
    await h.instances.delete('web');
    expect(await entries(h.ctx.paths.instances)).toEqual([]);
  });

  it('removes an instance whose create or fork the crash cut short', async () => {
    const done = await h.instances.create({ name: 'done', image: 'default' });
    const record = h.ctx.repos.instances.get(done.id)!;
    h.ctx.repos.instances.insert({ ...record, id: 'halfmade', name: 'half', state: 'Created' });
    await mkdir(h.ctx.paths.instance('halfmade'), { recursive: true });
    await writeFile(h.ctx.paths.instanceDisk('halfmade'), 'partial copy');

    h = await h.restart();
    const report = await reconcile(h.ctx);
    expect(report.removedInstances).toEqual(['halfmade']);
    expect(h.instances.list().items.map((i) => i.name)).toEqual(['done']);
    expect(await entries(h.ctx.paths.instances)).toEqual([done.id]);
  });

  it('re-arms the resume retry of a guest left paused by a failed resume', async () => {
    await h.instances.create({ name: 'web', image: 'default' });
    h.driver.faults.inject('resume', { fail: 'stuck' });
    await h.snapshots.create('web');
    expect(h.instances.get('web').state).toBe('Paused');

    const stateError = h.instances.get('web').stateError;
    h = await h.restart();
    await reconcile(h.ctx);
    expect(h.instances.get('web')).toMatchObject({ state: 'Paused', stateError });
    await h.clock.advance(h.ctx.settings.resumeRetryInitialMs);
    await eventually(() => h.instances.get('web').state === 'Running');
    expect(h.instances.get('web').stateError).toBeNull();
  });
});
