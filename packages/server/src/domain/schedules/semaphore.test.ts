import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('grants permits in arrival order as they are released', async () => {
    const semaphore = new Semaphore(1);
    const order: string[] = [];
    const first = await semaphore.acquire();
    const second = semaphore.acquire().then((release) => {
      order.push('second');
      return release;
    });
    const third = semaphore.acquire().then((release) => {
      order.push('third');
      return release;
    });
    first();
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
  });

  it('drops a waiter whose signal aborts, without losing the permit', async () => {
    const semaphore = new Semaphore(1);
    const held = await semaphore.acquire();
    const abort = new AbortController();
    const gaveUp = semaphore.acquire(abort.signal);
    abort.abort(new Error('stopping'));
    await expect(gaveUp).rejects.toThrow('stopping');
    held();
    const next = await semaphore.acquire();
    next();
  });

  it('ignores a second release of the same permit', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire();
    release();
    release();
    await semaphore.acquire();
    let granted = false;
    void semaphore.acquire().then(() => {
      granted = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(granted).toBe(false);
  });
});
