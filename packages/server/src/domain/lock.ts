/**
 * One async lock per key (an instance, a snapshot, an image name). Every operation on an
 * instance runs under its lock, so a snapshot, a standby and a stop never interleave their
 * steps on one guest; waiters are served first come, first served. A caller that would rather
 * be told "busy" than wait passes `{ wait: false }` and gets a 409 `conflict`.
 *
 * The lock is in-process only: two server processes on one data dir are kept apart by the
 * database (the scheduler's run leases), not by this.
 */
import { ConflictError } from './errors.js';

/** How to take a lock. */
export interface LockOptions {
  /** `false`: fail with {@link ConflictError} at once if the key is held. Default `true`. */
  wait?: boolean;
  /** Aborting while waiting gives up the place in the queue and rejects with the reason. */
  signal?: AbortSignal;
  /** What the holder is doing, for the conflict message ("snapshot", "stop" …). */
  operation?: string;
  /** What the key names, for the conflict message ("instance web-1"). */
  subject?: string;
}

interface Waiter {
  operation: string;
  grant: () => void;
}

interface Slot {
  operation: string;
  waiters: Waiter[];
}

/** A FIFO async mutex per string key. */
export class KeyedLock {
  private readonly slots = new Map<string, Slot>();

  /** Runs `fn` while holding `key`; releases it however `fn` ends. */
  async run<T>(key: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    const release = await this.acquire(key, opts);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** The operation holding `key`, if any. */
  holder(key: string): string | undefined {
    return this.slots.get(key)?.operation;
  }

  /** Waits for `key`; resolves with the function that releases it (idempotent). */
  acquire(key: string, opts: LockOptions = {}): Promise<() => void> {
    const operation = opts.operation ?? 'an operation';
    opts.signal?.throwIfAborted();
    const slot = this.slots.get(key);
    if (!slot) {
      this.slots.set(key, { operation, waiters: [] });
      return Promise.resolve(this.releaser(key));
    }
    if (opts.wait === false) {
      throw new ConflictError(
        `${opts.subject ?? key} is busy: ${slot.operation} is in progress; retry when it finishes`,
        { busy_with: slot.operation },
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        slot.waiters = slot.waiters.filter((w) => w !== waiter);
        reject(opts.signal?.reason);
      };
      const waiter: Waiter = {
        operation,
        grant: () => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser(key));
        },
      };
      slot.waiters.push(waiter);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const slot = this.slots.get(key);
      if (!slot) return;
      const next = slot.waiters.shift();
      if (!next) {
        this.slots.delete(key);
        return;
      }
      slot.operation = next.operation;
      next.grant();
    };
  }
}
