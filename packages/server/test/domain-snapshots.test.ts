import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ConflictError,
  DomainError,
  InvalidRequestError,
  InvalidStateError,
  statusOf,
} from '../src/domain/errors.js';
import { scanOrphans } from '../src/domain/reconcile.js';
import { createHarness, drive, entries, eventually, type Harness, idle } from './domain-harness.js';

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
const calls = (id: string) => h.driver.calls.kinds(id);

describe('snapshot kind by source state', () => {
  it('captures a running guest as Standby, freezing it only while writing', async () => {
    const instance = await running();
    h.driver.faults.inject('snapshot', { delayMs: 40 });
    const snapshot = await drive(h.clock, h.snapshots.create('web', { name: 's1' }), {
      stepMs: 10,
    });
    expect(snapshot).toMatchObject({
      kind: 'Standby',
      status: 'ready',
      name: 's1',
      downtimeMs: 40,
    });
    expect(h.instances.get('web').state).toBe('Running');
    expect(calls(instance.id)).toEqual([
      'start',
      'snapshot-begin',
      'pause',
      'resume',
      'snapshot-end',
    ]);
    expect(await entries(h.ctx.paths.snapshot(snapshot.id))).toEqual([
      'disk0.qcow2',
      'instance.json',
      'manifest.json',
      'memory.bin',
    ]);
    expect(snapshot.sizeBytes).toBeGreaterThan(4096);
  });

  it('captures a paused guest without resuming it and leaves it paused (BB-25)', async () => {
    const instance = await running();
    await h.instances.pause('web');
    const before = calls(instance.id).length;
    const snapshot = await h.snapshots.create('web');
    expect(snapshot.kind).toBe('Standby');
    expect(snapshot.downtimeMs).toBe(0);
    expect(h.instances.get('web').state).toBe('Paused');
    expect(calls(instance.id).slice(before)).toEqual(['snapshot-begin', 'snapshot-end']);
  });

  it('takes a disk-only Stopped snapshot of a stopped guest without any driver call (BB-30)', async () => {
    const instance = await running();
    await h.instances.stop('web');
    const before = h.driver.calls.entries().length;
    const snapshot = await h.snapshots.create('web');
    expect(snapshot.kind).toBe('Stopped');
    expect(h.driver.calls.entries()).toHaveLength(before);
    expect(h.instances.get('web').state).toBe('Stopped');
    expect(await entries(h.ctx.paths.snapshot(snapshot.id))).toEqual([
      'disk0.qcow2',
      'instance.json',
      'manifest.json',
    ]);
    void instance;
  });

  it('copies a standby instance without waking it', async () => {
    await running();
    await h.instances.standby('web');
    const before = h.driver.calls.entries().length;
    const snapshot = await h.snapshots.create('web', { kind: 'Standby' });
    expect(snapshot.kind).toBe('Standby');
    expect(h.driver.calls.entries()).toHaveLength(before);
    expect(h.instances.get('web').state).toBe('Standby');
    expect(await entries(h.ctx.paths.snapshot(snapshot.id))).toEqual([
      'disk0.qcow2',
      'instance.json',
      'manifest.json',
      'memory.bin',
    ]);
  });

  it.each([
    ['Running', 'Stopped', 'stopped snapshot requires source in Stopped, got Running'],
    [
      'Stopped',
      'Standby',
      'standby snapshot requires source in Running, Paused or Standby, got Stopped',
    ],
  ])(
    'refuses a %s instance a %s snapshot with 409 in hypeman words',
    async (state, kind, message) => {
      await running();
      if (state === 'Stopped') await h.instances.stop('web');
      const error = await h.snapshots.create('web', { kind }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidStateError);
      expect((error as Error).message).toBe(message);
      expect(h.snapshots.list().items).toEqual([]);
    },
  );
});

describe('names and tags', () => {
  it('keeps names unique per source instance and leaves an omitted name null', async () => {
    await running('a');
    await running('b');
    await h.snapshots.create('a', { name: 'nightly' });
    await expect(h.snapshots.create('a', { name: 'nightly' })).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
    await expect(h.snapshots.create('b', { name: 'nightly' })).resolves.toMatchObject({
      name: 'nightly',
    });
    expect((await h.snapshots.create('a')).name).toBeNull();
  });

  it('rejects user tags under the reserved prefixes', async () => {
    await running();
    for (const key of ['hypeman.scheduled', 'vmkeep.schedule']) {
      const error = await h.snapshots
        .create('web', { tags: { [key]: 'true' } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
    }
  });

  it('records server-side provenance only through the internal option', async () => {
    const a = await running('a');
    const b = await running('b');
    const provenance = (instanceId: string, runId: string) => ({
      provenance: { scheduleInstanceId: instanceId, scheduleRunId: runId },
    });
    const first = await h.snapshots.create('a', {}, provenance(a.id, 'run-1'));
    await h.clock.advance(60_000);
    await h.snapshots.create('a', { name: 'manual' });
    const second = await h.snapshots.create('a', {}, provenance(a.id, 'run-2'));
    await h.snapshots.create('b', {}, provenance(b.id, 'run-3'));

    expect(h.snapshots.view(second)).toMatchObject({
      schedule: { instance_id: a.id, run_id: 'run-2' },
      tags: { 'hypeman.scheduled': 'true', 'hypeman.schedule_instance_id': a.id },
      expires_at: null,
    });
    expect(h.snapshots.listScheduled(a.id).map((s) => s.id)).toEqual([second.id, first.id]);
  });

  it('writes the provenance tags from the server-side provenance only, never from a caller', async () => {
    const a = await running();
    const spoofed = {
      'hypeman.scheduled': 'true',
      'hypeman.schedule_instance_id': 'spoofed',
      env: 'x',
    };
    const provenance = { scheduleInstanceId: a.id, scheduleRunId: 'r1' };
    await expect(h.snapshots.create('web', { tags: spoofed })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    await expect(
      h.snapshots.create('web', { tags: spoofed }, { provenance }),
    ).rejects.toBeInstanceOf(InvalidRequestError);
    const scheduled = await h.snapshots.create(
      'web',
      { name: 'scheduled-1', tags: { env: 'x' } },
      { provenance },
    );
    expect(scheduled.tags).toEqual({
      'hypeman.scheduled': 'true',
      'hypeman.schedule_instance_id': a.id,
      env: 'x',
    });
  });

  it('patches pinned and user tags while keeping the server-written tags', async () => {
    const a = await running();
    const s = await h.snapshots.create(
      'web',
      { tags: { keep: 'me' } },
      {
        provenance: { scheduleInstanceId: a.id, scheduleRunId: 'r' },
      },
    );
    const patched = await h.snapshots.patch(s.id, { pinned: true, tags: { owner: 'ops' } });
    expect(patched.pinned).toBe(true);
    expect(patched.tags).toEqual({
      owner: 'ops',
      'hypeman.scheduled': 'true',
      'hypeman.schedule_instance_id': a.id,
    });
    await expect(
      h.snapshots.patch(s.id, { tags: { 'hypeman.scheduled': 'false' } }),
    ).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('capture failures', () => {
  it('resumes exactly once and leaves no record and no files when the capture fails (BB-26 A)', async () => {
    const instance = await running();
    h.driver.faults.inject('snapshot', { fail: 'disk full' });
    await expect(h.snapshots.create('web', { name: 's' })).rejects.toThrow('disk full');
    expect(h.instances.get('web').state).toBe('Running');
    expect(calls(instance.id)).toEqual([
      'start',
      'snapshot-begin',
      'pause',
      'snapshot-failed',
      'resume',
    ]);
    expect(h.snapshots.list().items).toEqual([]);
    expect(await entries(h.ctx.paths.snapshots)).toEqual([]);
    expect(await scanOrphans(h.ctx)).toEqual([]);
    // The name was released with the record.
    await expect(h.snapshots.create('web', { name: 's' })).resolves.toMatchObject({ name: 's' });
  });

  it('keeps a complete snapshot when the resume fails, and retries the resume (BB-26 B)', async () => {
    const instance = await running();
    h.driver.faults.inject('resume', { fail: 'vCPU stuck' });
    const snapshot = await h.snapshots.create('web', { name: 's' });

    expect(h.snapshots.get(snapshot.id).status).toBe('ready');
    const stuck = h.instances.get('web');
    expect(stuck.state).toBe('Paused');
    expect(stuck.stateError).toMatch(/could not be resumed after a snapshot.*vCPU stuck/);
    expect(await scanOrphans(h.ctx)).toEqual([]);

    // The first retry comes after resumeRetryInitialMs (500 ms): within two retry periods.
    await h.clock.advance(499);
    await idle();
    expect(h.instances.get('web').state).toBe('Paused');
    await h.clock.advance(1);
    await eventually(() => h.instances.get('web').state === 'Running');
    expect(h.instances.get('web').stateError).toBeNull();
    expect(h.driver.calls.violations(instance.id)).toEqual([]);
  });

  it('resumes a stuck guest before any new capture pauses it again', async () => {
    const instance = await running();
    h.driver.faults.inject('resume', { fail: 'vCPU stuck' }, { times: 3 });
    await h.snapshots.create('web');
    await h.clock.advance(500); // retry 1 fails
    await eventually(() => h.driver.faults.remaining('resume') === 1);
    const pausesBefore = calls(instance.id).filter((k) => k === 'pause').length;

    // The capture first tries the resume (fails again): 409, and no new pause.
    await expect(h.snapshots.create('web')).rejects.toBeInstanceOf(ConflictError);
    expect(calls(instance.id).filter((k) => k === 'pause')).toHaveLength(pausesBefore);

    // The next attempt works: the capture resumes first, then pauses as usual.
    const snapshot = await h.snapshots.create('web');
    expect(snapshot.status).toBe('ready');
    expect(h.instances.get('web')).toMatchObject({ state: 'Running', stateError: null });
    expect(h.driver.calls.violations(instance.id)).toEqual([]);
  });

  it('cancels a hung capture through the abort signal and returns the guest to Running', async () => {
    await running();
    h.driver.faults.inject('snapshot', { hang: true });
    const abort = new AbortController();
    const capture = h.snapshots.create('web', {}, { signal: abort.signal });
    await idle();
    abort.abort(new Error('capture deadline passed'));
    await expect(capture).rejects.toThrow('capture deadline passed');
    expect(h.instances.get('web').state).toBe('Running');
    expect(await entries(h.ctx.paths.snapshots)).toEqual([]);
    expect(h.snapshots.list().items).toEqual([]);
  });
});

describe('concurrent operations on one instance (BB-29)', () => {
  it('serialise or conflict cleanly: one m1, no overlapping pauses, no orphans', async () => {
    const instance = await running();
    h.driver.faults.inject('snapshot', { delayMs: 200 }, { times: Number.POSITIVE_INFINITY });
    const results = await drive(
      h.clock,
      Promise.allSettled([
        h.snapshots.create('web', { name: 'm1' }),
        h.snapshots.create('web', { name: 'm2' }),
        h.snapshots.create('web', { name: 'm1' }),
        h.instances.standby('web'),
        h.snapshots.create('web', {}, { lock: 'fail' }),
        h.snapshots.create('web'),
      ]),
      { stepMs: 50 },
    );

    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      expect(result.reason).toBeInstanceOf(DomainError);
      expect(statusOf[(result.reason as DomainError).code]).toBe(409);
    }
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const listed = h.snapshots.list({ source_instance_id: instance.id }).items;
    expect(listed.filter((s) => s.name === 'm1')).toHaveLength(1);
    expect(listed.map((s) => s.kind)).toEqual(['Standby', 'Standby', 'Standby']);
    expect(h.instances.get('web').state).toBe('Standby');

    expect(h.driver.calls.violations()).toEqual([]);
    const windows = h.driver.calls.pauseWindows(instance.id);
    for (let i = 1; i < windows.length; i++) {
      expect(windows[i]!.pausedAt).toBeGreaterThanOrEqual(windows[i - 1]!.resumedAt ?? Number.NaN);
    }
    expect(windows.at(-1)?.closedBy).toBe('exit'); // the standby's intended stop
    expect(await scanOrphans(h.ctx)).toEqual([]);
  });
});

describe('delete', () => {
  it('keeps the record when the payload cannot be removed, and a later delete works', async () => {
    let failures = 1;
    await h.close();
    h = await createHarness({
      fs: {
        removeDir: async (path) => {
          if (path.includes('.del-') && failures-- > 0) throw new Error('EIO: i/o error, rmdir');
          const { rm } = await import('node:fs/promises');
          await rm(path, { recursive: true, force: true });
        },
      },
    });
    await running();
    const snapshot = await h.snapshots.create('web');
    await expect(h.snapshots.delete(snapshot.id)).rejects.toThrow('EIO');
    expect(h.snapshots.get(snapshot.id).status).toBe('ready');
    expect(await entries(h.ctx.paths.snapshot(snapshot.id))).toContain('manifest.json');
    expect(await scanOrphans(h.ctx)).toEqual([]);

    await h.snapshots.delete(snapshot.id);
    expect(h.snapshots.list().items).toEqual([]);
    expect(await entries(h.ctx.paths.snapshots)).toEqual([]);
  });

  it('refuses a snapshot still being created', async () => {
    await running();
    h.driver.faults.inject('snapshot', { delayMs: 1000 });
    const capture = h.snapshots.create('web');
    await idle();
    const creating = h.snapshots.list().items[0]!;
    expect(creating.status).toBe('creating');
    await expect(h.snapshots.delete(creating.id)).rejects.toBeInstanceOf(ConflictError);
    await drive(h.clock, capture);
  });

  it('never touches the source instance or its forks', async () => {
    await running();
    const snapshot = await h.snapshots.create('web');
    const fork = await h.snapshots.fork(snapshot.id, { name: 'fork' });
    await h.snapshots.delete(snapshot.id);
    expect(h.instances.get('web').state).toBe('Running');
    expect(h.instances.get(fork.id).state).toBe('Running');
    await h.instances.stop(fork.id);
    await expect(h.instances.start(fork.id)).resolves.toMatchObject({ state: 'Running' });
  });
});
