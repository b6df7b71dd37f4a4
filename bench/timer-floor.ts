/**
 * The floor for scheduler lateness: how late a bare `setTimeout` fires in this process when
 * nothing else runs. Whatever the scheduler adds on top of this is vmkeep's own cost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Spread, spreadOf } from './stats.js';

/**
 * Sleeps `wakeups` times for `delayMs` each, one after another, and returns how late each
 * wake-up came (ms past its due time, by the monotonic clock).
 */
export async function timerFloor(wakeups: number, delayMs = 1): Promise<Spread> {
  const lateness = new Float64Array(wakeups);
  for (let i = 0; i < wakeups; i++) {
    const due = performance.now() + delayMs;
    await sleep(delayMs);
    lateness[i] = performance.now() - due;
  }
  return spreadOf(Array.from(lateness));
}
