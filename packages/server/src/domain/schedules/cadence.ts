/**
 * When a schedule runs: hypeman's cadence rules as pure functions over epoch milliseconds.
 *
 * A schedule lives on a grid `first, first + interval, first + 2·interval, …` anchored when its
 * cadence is set. A run moves it to the first grid slot strictly after the run time, so missed
 * slots collapse into one catch-up run and a late run never drifts the grid (BB-03, BB-05).
 * Stored times have millisecond resolution, so the grid steps by the interval truncated to
 * whole milliseconds; every interval the API accepts is a whole number of milliseconds anyway
 * unless it is written with sub-millisecond parts.
 */
import { durationToMs, NS_PER_MINUTE } from './duration.js';

const FNV_OFFSET_BASIS = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = (1n << 64n) - 1n;

/** The cap on jitter: hypeman spreads schedules over at most five minutes. */
const MAX_JITTER_NS = 5n * NS_PER_MINUTE;

/** FNV-1a, 64-bit, over the UTF-8 bytes of `text`. */
export function fnv1a64(text: string): bigint {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK_64;
  }
  return hash;
}

/** The largest jitter an interval gets: a tenth of it, at most five minutes. */
export function maxJitterNs(intervalNs: bigint): bigint {
  const tenth = intervalNs / 10n;
  return tenth < MAX_JITTER_NS ? tenth : MAX_JITTER_NS;
}

/**
 * The instance's fixed offset into its jitter window. Deterministic, so re-applying the same
 * schedule lands on the same grid, and different instances created in the same second spread
 * out instead of all pausing their guests in one instant.
 */
export function cadenceJitterNs(instanceId: string, intervalNs: bigint): bigint {
  const window = maxJitterNs(intervalNs);
  if (window <= 0n) return 0n;
  return fnv1a64(instanceId) % window;
}

/**
 * The first `next_run_at` of a new cadence: one interval after `nowMs`, plus the instance's
 * jitter unless `jitter` is false. A new schedule never runs at once.
 */
export function initialNextRunAt(
  nowMs: number,
  intervalNs: bigint,
  instanceId: string,
  options: { jitter: boolean },
): number {
  const jitter = options.jitter ? cadenceJitterNs(instanceId, intervalNs) : 0n;
  return nowMs + durationToMs(intervalNs + jitter);
}

/**
 * The first slot of `prevMs`'s grid strictly after `nowMs`; `prevMs` itself while it is still
 * ahead. Unlike hypeman, which answers `now` for a non-positive interval (a schedule that is due
 * forever, a hot loop), a non-positive interval is refused: callers must not run such a
 * schedule.
 */
export function nextRunAt(prevMs: number, intervalMs: number, nowMs: number): number {
  if (!(intervalMs > 0))
    throw new RangeError(`cadence interval must be positive, got ${intervalMs}`);
  if (nowMs < prevMs) return prevMs;
  return prevMs + (Math.floor((nowMs - prevMs) / intervalMs) + 1) * intervalMs;
}

/**
 * Guards against the wall clock moving backwards (hypeman review, bug class F). A PUT or a run
 * never leaves `next_run_at` more than one interval plus the jitter window ahead, so a farther
 * slot means the clock went back; left alone, the schedule would take nothing until the clock
 * caught up again, hours or days later. This moves it back along its own grid to the first
 * slot after `nowMs`, keeping the phase. Any other value comes back unchanged.
 */
export function rearmAfterClockJump(
  nextMs: number,
  intervalMs: number,
  nowMs: number,
  maxJitterMs: number,
): number {
  const ahead = nextMs - nowMs;
  if (!(intervalMs > 0) || ahead <= intervalMs + maxJitterMs) return nextMs;
  return nextMs - (Math.ceil(ahead / intervalMs) - 1) * intervalMs;
}
