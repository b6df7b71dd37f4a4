/**
 * The test's {@link FakeClock}, seen through a wrapper that knows when each pending sleep is
 * due. A whole server (scheduler, domain, mock hypervisor) sleeps on it, and the HTTP world
 * moves time one due timer at a time, letting the server finish what that timer started (file
 * I/O included) before the next one: the time a snapshot is stamped with is then the time of
 * its slot, as in production, not whatever the clock had reached meanwhile.
 */
import type { Clock } from '../../src/domain/clock.js';
import { FakeClock } from './fake-clock.js';

export class SteppedClock implements Clock {
  readonly fake: FakeClock;
  /** Due times of the sleeps still pending, by a sequence number. */
  private readonly pending = new Map<number, number>();
  private seq = 0;

  constructor(start: string | number = '2025-03-01T00:00:00Z') {
    this.fake = new FakeClock(start);
  }

  now(): number {
    return this.fake.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const key = this.seq++;
    this.pending.set(key, this.fake.now() + Math.max(0, ms));
    return this.fake.sleep(ms, signal).finally(() => this.pending.delete(key));
  }

  /** How many sleeps were ever started: a progress counter for detecting a stall. */
  get sleepsStarted(): number {
    return this.seq;
  }

  /** When the earliest pending sleep is due, if any is pending. */
  nextDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const at of this.pending.values()) {
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  /** Moves time to `at`, firing the timers due by then (see {@link FakeClock.advanceTo}). */
  advanceTo(at: number): Promise<void> {
    return this.fake.advanceTo(at);
  }

  /** Sets the wall clock without firing anything (a timer firing early or late, a jump). */
  set(time: number | string): void {
    this.fake.set(time);
  }
}
