import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  AmbiguousError,
  ConflictError,
  InvalidRequestError,
  InvalidStateError,
  NotFoundError,
} from '../src/domain/errors.js';
import {
  type InstanceState,
  type LifecycleVerb,
  TRANSITIONS,
} from '../src/domain/instances/state.js';
import type { InstanceRecord } from '../src/store/instances-repo.js';
import { createHarness, drive, entries, eventually, type Harness, idle } from './domain-harness.js';

let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});

afterEach(async () => {
  h.driver.faults.releaseHangs();
  await h.close();
});

/** An instance brought into `state` through the public verbs. */
async function instanceIn(state: InstanceState, name = 'web'): Promise<InstanceRecord> {
  const created = await h.instances.create({ name, image: 'default', hypervisor: 'mock' });
  switch (state) {
    case 'Running':
      return created;
    case 'Paused':
      return h.instances.pause(created.id);
    case 'Stopped':
      return drive(h.clock, h.instances.stop(created.id));
    case 'Standby':
      return h.instances.standby(created.id);
    default:
      throw new Error(`no recipe for ${state}`);
  }
}

describe('create', () => {
  it('boots a running guest from a fresh qcow2 disk and reports it in hypeman shape', async () => {
    const instance = await h.instances.create({
      name: 'web',
      image: 'default',
      size: '512MB',
      vcpus: 2,
      tags: { team: 'a' },
    });
    expect(instance.state).toBe('Running');
    expect(await entries(h.ctx.paths.instance(instance.id))).toEqual([
      'disk0.qcow2',
      'run',
      'serial.log',
    ]);
    expect(await readFile(h.ctx.paths.serialLog(instance.id), 'utf8')).toMatch(
      /^Linux version mock/,
    );
    expect(h.instances.view(instance)).toEqual({
      id: instance.id,
      name: 'web',
      image: 'default',
      state: 'Running',
      state_error: null,
      size: '512.0 MB',
      vcpus: 2,
      hypervisor: 'mock',
      env: {},
      tags: { team: 'a' },
      created_at: '2025-03-01T00:00:00.000Z',
      started_at: '2025-03-01T00:00:00.000Z',
      stopped_at: null,
      has_snapshot: false,
    });
  });

  it('uses the configured defaults when vcpus and size are omitted', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    expect(instance.vcpus).toBe(1);
    expect(instance.spec.memoryMiB).toBe(256);
  });

  it.each([
    [{ name: 'Web' }, InvalidRequestError, /name "Web" is not valid/],
    [{ name: '-web' }, InvalidRequestError, /not valid/],
    [{ size: '512Mb' }, InvalidRequestError, /reads as bits/],
    [{ size: 'lots' }, InvalidRequestError, /is not a size/],
    [{ size: '16MB' }, InvalidRequestError, /below the minimum/],
    [{ vcpus: 0 }, InvalidRequestError, /vcpus 0 is out of range/],
    [{ tags: { 'hypeman.scheduled': 'true' } }, InvalidRequestError, /reserved prefix "hypeman\."/],
    [{ tags: { 'vmkeep.x': 'y' } }, InvalidRequestError, /reserved prefix "vmkeep\."/],
    [{ image: 'nope' }, NotFoundError, /image nope not found/],
    [{ hypervisor: 'vmware' }, InvalidRequestError, /"vmware" is not known/],
    [{ hypervisor: 'qemu' }, InvalidRequestError, /qemu is not enabled/],
  ])('refuses %o', async (overrides, type, message) => {
    const input = { name: 'web', image: 'default', ...overrides };
    const error = await h.instances.create(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect(h.instances.list().items).toEqual([]);
  });

  it('refuses a name that is taken with 409 already_exists', async () => {
    await h.instances.create({ name: 'web', image: 'default' });
    await expect(h.instances.create({ name: 'web', image: 'default' })).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
  });

  it('leaves no record and no files when the guest fails to boot', async () => {
    h.driver.faults.inject('start', { fail: 'out of memory' });
    await expect(h.instances.create({ name: 'web', image: 'default' })).rejects.toThrow(
      'out of memory',
    );
    expect(h.instances.list().items).toEqual([]);
    expect(await entries(h.ctx.paths.instances)).toEqual([]);
  });
});

describe('resolving {id}', () => {
  it('accepts the id, the name and a unique id prefix', async () => {
    const a = await h.instances.create({ name: 'alpha', image: 'default' });
    expect(h.instances.get(a.id).id).toBe(a.id);
    expect(h.instances.get('alpha').id).toBe(a.id);
    expect(h.instances.get(a.id.slice(0, 10)).id).toBe(a.id);
  });

  it('answers 404 for nothing and 409 ambiguous for a prefix of several ids', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++)
      ids.push((await h.instances.create({ name: `i${i}`, image: 'default' })).id);
    const shared = ids.map((id) => id[0]).find((c, i, all) => all.indexOf(c) !== i)!;
    expect(() => h.instances.get(shared)).toThrow(AmbiguousError);
    expect(() => h.instances.get('zz-none')).toThrow(NotFoundError);
    expect(() => h.instances.get('%')).toThrow(NotFoundError);
  });
});

describe('transition table', () => {
  const states: InstanceState[] = ['Running', 'Paused', 'Stopped', 'Standby'];
  const verbs = ['start', 'stop', 'pause', 'resume', 'standby', 'restore'] as const;
  const cases = verbs.flatMap((verb) => states.map((state) => [verb, state] as const));

  it.each(cases)('%s from %s follows the table', async (verb: LifecycleVerb, state) => {
    const instance = await instanceIn(state);
    const rule = TRANSITIONS[verb];
    const call = drive(
      h.clock,
      (
        h.instances[verb as (typeof verbs)[number]] as (ref: string) => Promise<InstanceRecord>
      ).call(h.instances, instance.id),
    );
    if (rule.from.includes(state)) {
      expect((await call).state).toBe(rule.to);
      expect(h.instances.get(instance.id).state).toBe(rule.to);
    } else {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidStateError);
      expect((error as Error).message).toContain(`in state ${state}`);
      expect((error as Error).message).toContain(`${verb} requires ${rule.from[0]}`);
      expect(h.instances.get(instance.id).state).toBe(state);
    }
  });

  it('restores a standby guest where it left off, without a reboot', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    const before = h.driver.vm(instance.id)!;
    await before.tick();
    await h.instances.standby(instance.id);
    expect(await entries(h.ctx.paths.standbyDir(instance.id))).toContain('manifest.json');
    expect(h.instances.view(h.instances.get(instance.id)).has_snapshot).toBe(true);

    await h.instances.restore(instance.id);
    const after = h.driver.vm(instance.id)!;
    expect(after.guestState).toEqual(before.guestState);
    expect(await entries(h.ctx.paths.standbyDir(instance.id))).toEqual([]);
    const log = await readFile(h.ctx.paths.serialLog(instance.id), 'utf8');
    expect(log.match(/Linux version/g)).toHaveLength(1);
  });
});

describe('stop', () => {
  it('kills a guest that ignores the power button once the timeout passes', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    h.driver.faults.inject('shutdown', { hang: true });
    const stopping = h.instances.stop(instance.id, { timeoutMs: 5000 });
    await idle();
    await h.clock.advance(4999);
    expect(h.instances.get(instance.id).state).toBe('Running');
    await h.clock.advance(1);
    expect((await stopping).state).toBe('Stopped');
    expect(h.driver.calls.kinds(instance.id)).toEqual(['start', 'shutdown', 'exit']);
  });

  it('resumes a paused guest so it can power off gracefully', async () => {
    const instance = await instanceIn('Paused');
    await h.instances.stop(instance.id);
    expect(h.driver.calls.kinds(instance.id).slice(-3)).toEqual(['resume', 'shutdown', 'exit']);
  });
});

describe('a guest that powers off by itself', () => {
  it('becomes Stopped', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    await h.driver.vm(instance.id)!.powerOff();
    await eventually(() => h.instances.get(instance.id).state === 'Stopped');
    const after = h.instances.get(instance.id);
    expect(after.state).toBe('Stopped');
    expect(after.stateError).toBeNull();
    expect(after.stoppedAt).toBe(h.clock.now());
    await expect(h.instances.start(instance.id)).resolves.toMatchObject({ state: 'Running' });
  });
});

describe('a VMM that crashes', () => {
  it('becomes Stopped with state_error saying how it ended, cleared by the next start', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    await h.driver.vm(instance.id)!.crash('out of memory');
    await eventually(() => h.instances.get(instance.id).state === 'Stopped');
    expect(h.instances.get(instance.id).stateError).toBe(
      'the VMM exited with status 1 (out of memory); start the instance to boot it again',
    );
    await expect(h.instances.start(instance.id)).resolves.toMatchObject({
      state: 'Running',
      stateError: null,
    });
  });
});

describe('delete', () => {
  it('kills the VMM and removes the instance dir, in any state', async () => {
    for (const state of ['Running', 'Paused', 'Stopped', 'Standby'] as const) {
      const instance = await instanceIn(state, `w-${state.toLowerCase()}`);
      await h.instances.delete(instance.name);
      expect(() => h.instances.get(instance.id)).toThrow(NotFoundError);
      expect(h.driver.vm(instance.id)).toBeUndefined();
    }
    expect(await entries(h.ctx.paths.instances)).toEqual([]);
  });
});

describe('the instance lock', () => {
  it('makes a caller that will not wait get 409 conflict while an operation runs', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    h.driver.faults.inject('snapshot', { delayMs: 1000 });
    const standby = h.instances.standby(instance.id);
    await idle();
    const error = await h.instances.pause(instance.id, { wait: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toBe(
      'instance web is busy: standby is in progress; retry when it finishes',
    );
    await drive(h.clock, standby);
  });
});

describe('wait', () => {
  it('returns as soon as the state is reached', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    const waiting = h.instances.wait('web', { state: 'Paused', timeoutMs: 30_000 });
    await idle();
    await h.instances.pause(instance.id);
    expect(await waiting).toEqual({ state: 'Paused', timed_out: false, state_error: null });
  });

  it('times out on the clock, capped at five minutes', async () => {
    await h.instances.create({ name: 'web', image: 'default' });
    let settled = false;
    const waiting = h.instances.wait('web', { state: 'Stopped', timeoutMs: 3_600_000 });
    void waiting.finally(() => {
      settled = true;
    });
    await idle();
    await h.clock.advance(5 * 60_000 - 1);
    expect(settled).toBe(false);
    await h.clock.advance(1);
    expect(await waiting).toEqual({ state: 'Running', timed_out: true, state_error: null });
  });

  it('refuses a state that does not exist', async () => {
    await h.instances.create({ name: 'web', image: 'default' });
    await expect(h.instances.wait('web', { state: 'Asleep' })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
  });
});

describe('logs', () => {
  it('tails the last lines and follows new ones as the guest prints them', async () => {
    const instance = await h.instances.create({ name: 'web', image: 'default' });
    const vm = h.driver.vm(instance.id)!;
    for (let i = 0; i < 5; i++) await vm.tick();
    const tail = await h.instances.tailLogs('web', 2);
    expect(tail).toEqual([
      `tick 4 boot_id=${vm.guestState.bootId}`,
      `tick 5 boot_id=${vm.guestState.bootId}`,
    ]);

    const abort = new AbortController();
    const follower = h.instances.followLogs('web', { tail: 1, signal: abort.signal });
    expect((await follower.next()).value).toBe(`tick 5 boot_id=${vm.guestState.bootId}`);
    await vm.tick();
    const next = follower.next();
    await drive(h.clock, next);
    expect((await next).value).toBe(`tick 6 boot_id=${vm.guestState.bootId}`);
    abort.abort();
    expect((await drive(h.clock, follower.next())).done).toBe(true);
  });
});

describe('list paging', () => {
  it('neither skips nor repeats while instances are added and deleted between pages', async () => {
    for (let i = 0; i < 6; i++) await h.instances.create({ name: `i${i}`, image: 'default' });
    const seen: string[] = [];
    let page = h.instances.list({}, { limit: 2 });
    seen.push(...page.items.map((i) => i.name));
    await h.instances.delete('i2'); // not seen yet
    await h.instances.delete('i0'); // already seen
    await h.instances.create({ name: 'i6', image: 'default' });
    while (page.nextCursor) {
      page = h.instances.list({}, { limit: 2, cursor: page.nextCursor });
      seen.push(...page.items.map((i) => i.name));
    }
    expect(seen).toEqual(['i0', 'i1', 'i3', 'i4', 'i5', 'i6']);
  });

  it('filters by state and by tags, ANDed and exact', async () => {
    await h.instances.create({ name: 'a', image: 'default', tags: { env: 'prod', team: 'x' } });
    await h.instances.create({ name: 'b', image: 'default', tags: { env: 'prod' } });
    await h.instances.pause('b');
    await h.instances.create({ name: 'c', image: 'default', tags: { env: 'Prod' } });
    const names = (f: Parameters<typeof h.instances.list>[0]) =>
      h.instances.list(f).items.map((i) => i.name);
    expect(names({ tags: { env: 'prod' } })).toEqual(['a', 'b']);
    expect(names({ tags: { env: 'prod', team: 'x' } })).toEqual(['a']);
    expect(names({ state: 'Paused', tags: { env: 'prod' } })).toEqual(['b']);
  });
});
