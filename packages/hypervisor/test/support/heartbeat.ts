/**
 * Reading pauses off the default guest's heartbeat. The guest's uptime stops while QEMU has it
 * stopped, but host time does not: between two consecutive ticks, host gap minus uptime gap is
 * how long the guest was frozen in between.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tick } from './serial.js';

/** Frozen milliseconds between each pair of consecutive ticks in `ticks`. */
export function frozenGapsMs(ticks: readonly Tick[]): number[] {
  const gaps: number[] = [];
  for (let i = 1; i < ticks.length; i++) {
    const a = ticks[i - 1]!;
    const b = ticks[i]!;
    gaps.push(b.seenAt - a.seenAt - (b.uptime - a.uptime) * 1000);
  }
  return gaps;
}

/** The ticks from the last one seen before `from` to the first one seen after `to`. */
export function ticksAround(ticks: readonly Tick[], from: number, to: number): Tick[] {
  const first = ticks.findLastIndex((t) => t.seenAt < from);
  const last = ticks.findIndex((t) => t.seenAt > to);
  return ticks.slice(Math.max(0, first), last < 0 ? undefined : last + 1);
}

/**
 * Resolves as soon as `name` appears in `dir` (polled every 2 ms), for aborting a capture
 * while QEMU is writing.
 */
export async function whenFileAppears(
  dir: string,
  name: string,
  timeoutMs = 30_000,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await stat(join(dir, name)).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`${name} never appeared in ${dir}: ${(await readdir(dir)).join(', ')}`);
}
