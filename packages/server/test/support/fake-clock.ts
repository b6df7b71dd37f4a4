import type { Clock } from '../../src/domain/clock.js';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that only moves when a test moves it. `sleep` registers a timer; `advance` and
 * `advanceTo` move time forward, firing timers in due order and letting the code they wake run
 * (a few turns of the event loop) before looking for the next one.
 */
export class FakeClock implements Clock {
  private current: number;
  private timers: Timer[] = [];
  private seq = 0;

  constructor(start: string | number = '2025-03-01T00:00:00Z') {
    this.current = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const timer: Timer = { at: this.current + Math.max(0, ms), seq: this.seq++, resolve };
      const onAbort = () => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** How many sleepers are waiting; lets tests assert that a loop went back to sleep. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.current + ms);
  }

  /** Moves time to `target` (an epoch ms or an ISO string); never backwards. */
  async advanceTo(target: number | string): Promise<void> {
    const end = typeof target === 'number' ? target : Date.parse(target);
    if (end < this.current) throw new Error('FakeClock cannot move backwards; use set()');
    for (;;) {
      await flush();
      const next = this.nextDue(end);
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      this.timers = this.timers.filter((t) => t !== next);
      next.resolve();
    }
    this.current = end;
    await flush();
  }

  /** Sets the wall clock to any instant (also backwards, to test clock jumps); fires nothing. */
  set(time: number | string): void {
    this.current = typeof time === 'number' ? time : Date.parse(time);
  }

  private nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (t.at > end) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Lets promise chains and I/O callbacks woken by a timer run before time moves on. */
export async function flush(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
