/**
 * How the HTTP world moves time. A server does real I/O (SQLite, payload files) between the
 * moments its timers fire; moving the fake clock while that I/O runs would stamp snapshots
 * with later times than their slots, or let a slot pass unseen. So time moves one due timer at
 * a time, and only once the server has done all it can at the current instant: nothing works
 * that is not waiting on the clock (see `ServerProbe.working`: a run, a lock or a file
 * operation that is not stuck in a delayed or hung hypervisor call armed by the test).
 *
 * One fallback stays a heuristic: work that waits on the clock in a way the probe cannot see
 * (a run queued for a capture slot behind a delayed one) is taken as waiting once nothing at
 * all has moved for {@link FALLBACK_STILL_MS} of real time.
 */
import { flush } from './fake-clock.js';
import type { SteppedClock } from './http-clock.js';
import type { ServerProbe } from './http-server-probe.js';

/** What the stepper watches. */
export interface StepperWatch {
  /** The running server's probe; undefined while no server runs. */
  probe(): ServerProbe | undefined;
  /** A number that changes whenever anything happens in the world. */
  progressMark(): number;
}

/** Real time without any progress after which remaining work is taken as waiting on time. */
const FALLBACK_STILL_MS = 250;
/** With no server running, only stray callbacks can move: a short quiet period suffices. */
const SERVERLESS_STILL_MS = 15;
const LOOK_MS = 2;

export class TimeStepper {
  constructor(
    private readonly clock: SteppedClock,
    private readonly watch: StepperWatch,
  ) {}

  /** Moves time to `end`, firing each due timer in turn and settling after each. */
  async advanceTo(end: number): Promise<void> {
    for (;;) {
      await this.settle();
      const next = this.clock.nextDueAt();
      if (next !== undefined && next <= end) {
        await this.clock.advanceTo(Math.max(next, this.clock.now()));
      } else if (this.clock.now() < end) {
        await this.clock.advanceTo(end);
      } else {
        return;
      }
    }
  }

  /** Waits until the server has done all it can without time moving. */
  async settle(): Promise<void> {
    let last = this.watch.progressMark();
    let stillSince = Date.now();
    for (;;) {
      const probe = this.watch.probe();
      if (probe && !probe.working()) {
        // Confirm: let pending callbacks run, and see that they started nothing.
        const before = this.watch.progressMark();
        await flush();
        if (this.watch.progressMark() === before && !probe.working()) return;
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, LOOK_MS));
      const mark = this.watch.progressMark();
      if (mark !== last || (probe?.fsBusy ?? 0) > 0) {
        last = mark;
        stillSince = Date.now();
      } else if (Date.now() - stillSince >= (probe ? FALLBACK_STILL_MS : SERVERLESS_STILL_MS)) {
        return;
      }
    }
  }

  /**
   * Awaits `work` (which may need time to pass, like a stop behind a capture that waits on the
   * clock), moving time to the next due timer whenever the server waits on it.
   */
  async drive<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const tracked = work.finally(() => {
      done = true;
    });
    tracked.catch(() => undefined);
    for (let steps = 0; steps < 100_000; steps++) {
      await this.settle();
      // The work's own I/O (closing files, the database) is not what the probe watches.
      await Promise.race([tracked.catch(() => undefined), realDelay(20)]);
      if (done) return tracked;
      const next = this.clock.nextDueAt();
      if (next !== undefined) await this.clock.advanceTo(Math.max(next, this.clock.now()));
    }
    throw new Error('work still pending after 100000 clock steps');
  }
}

function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
