import { describe, expect, it } from 'vitest';
import { ConflictError } from './errors.js';
import { KeyedLock } from './lock.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedLock', () => {
  it('runs operations on one key one at a time, first come first served', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = lock.run('k', async () => {
      order.push('first start');
      await gate;
      order.push('first end');
    });
    const second = lock.run('k', async () => {
      order.push('second');
    });
    const third = lock.run('k', async () => {
      order.push('third');
    });
    await tick();
    expect(order).toEqual(['first start']);
    release();
    await Promise.all([first, second, third]);
    expect(order).toEqual(['first start', 'first end', 'second', 'third']);
  });

  it('lets different keys run at the same time', async () => {
    const lock = new KeyedLock();
    let inside = 0;
    let most = 0;
    const work = (key: string) =>
      lock.run(key, async () => {
        inside++;
        most = Math.max(most, inside);
        await tick();
        inside--;
      });
    await Promise.all([work('a'), work('b')]);
    expect(most).toBe(2);
  });

  it('answers 409 conflict naming the holder when the caller will not wait', async () => {
    const lock = new KeyedLock();
    let release!: () => void;
    const held = lock.run('k', () => new Promise<void>((r) => (release = r)), {
      operation: 'snapshot',
    });
    await tick();
    const error = await lock
      .run('k', async () => 'never', { wait: false, subject: 'instance web' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toBe(
      'instance web is busy: snapshot is in progress; retry when it finishes',
    );
    release();
    await held;
    await expect(lock.run('k', async () => 'now', { wait: false })).resolves.toBe('now');
  });

  it('releases the key when the operation throws', async () => {
    const lock = new KeyedLock();
    await expect(lock.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(lock.holder('k')).toBeUndefined();
  });

  it('gives up a place in the queue when the waiter aborts', async () => {
    const lock = new KeyedLock();
    let release!: () => void;
    const held = lock.run('k', () => new Promise<void>((r) => (release = r)));
    const abort = new AbortController();
    const ran: string[] = [];
    const waiting = lock.run('k', async () => ran.push('aborted one'), { signal: abort.signal });
    const after = lock.run('k', async () => ran.push('next'));
    abort.abort(new Error('client left'));
    await expect(waiting).rejects.toThrow('client left');
    release();
    await Promise.all([held, after]);
    expect(ran).toEqual(['next']);
  });
});
