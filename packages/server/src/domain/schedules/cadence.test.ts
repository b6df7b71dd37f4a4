import { describe, expect, it } from 'vitest';
import {
  cadenceJitterNs,
  fnv1a64,
  initialNextRunAt,
  maxJitterNs,
  nextRunAt,
  rearmAfterClockJump,
} from './cadence.js';
import { parseDuration } from './duration.js';

const at = (iso: string) => Date.parse(iso);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('fnv1a64', () => {
  // Published FNV-1a 64 test vectors.
  it.each<[string, bigint]>([
    ['', 0xcbf29ce484222325n],
    ['a', 0xaf63dc4c8601ec8cn],
    ['foobar', 0x85944171f73967e8n],
  ])('hashes %j to the published value', (text, want) => {
    expect(fnv1a64(text)).toBe(want);
  });
});

describe('cadence jitter', () => {
  it.each<[string, string]>([
    ['1m', '6s'],
    ['10m', '1m'],
    ['50m', '5m'],
    ['24h', '5m'],
    ['5ns', '0s'],
  ])('caps the jitter window of a %s interval at %s', (interval, window) => {
    expect(maxJitterNs(parseDuration(interval))).toBe(parseDuration(window));
  });

  it('gives each instance a fixed offset inside the window', () => {
    const interval = parseDuration('1m');
    const offset = cadenceJitterNs('tz4a98xxat96iws9zmbrgj3a', interval);
    expect(offset).toBe(fnv1a64('tz4a98xxat96iws9zmbrgj3a') % parseDuration('6s'));
    expect(cadenceJitterNs('tz4a98xxat96iws9zmbrgj3a', interval)).toBe(offset);
    expect(offset).toBeGreaterThanOrEqual(0n);
    expect(offset).toBeLessThan(parseDuration('6s'));
  });

  it('spreads instances created together over the window', () => {
    const interval = parseDuration('1h');
    const offsets = new Set(
      Array.from({ length: 20 }, (_, i) => cadenceJitterNs(`inst-${i}`, interval)),
    );
    expect(offsets.size).toBe(20);
  });

  it('has no jitter for an interval too short to have a window', () => {
    expect(cadenceJitterNs('inst_A', 9n)).toBe(0n);
  });
});

describe('initialNextRunAt', () => {
  const now = at('2025-03-01T00:00:00Z');

  it('runs one interval from now when jitter is off', () => {
    expect(initialNextRunAt(now, parseDuration('1m'), 'inst_A', { jitter: false })).toBe(
      now + MINUTE,
    );
  });

  it('adds the instance jitter, truncated to milliseconds, when jitter is on', () => {
    const interval = parseDuration('1h');
    const jitterMs = Number(cadenceJitterNs('inst_A', interval) / 1_000_000n);
    expect(initialNextRunAt(now, interval, 'inst_A', { jitter: true })).toBe(now + HOUR + jitterMs);
  });
});

describe('nextRunAt', () => {
  it.each<[string, string, number, string, string]>([
    ['keeps a slot still ahead', '10:00:07', HOUR, '09:59:59', '10:00:07'],
    ['moves an on-time run one step', '10:00:07', HOUR, '10:00:07', '11:00:07'],
    ['does not drift after a late run', '10:00:07', HOUR, '10:00:09.300', '11:00:07'],
    ['collapses missed slots after downtime', '10:00:07', HOUR, '13:20:00', '14:00:07'],
    ['skips a slot landing exactly on now', '10:00:00', MINUTE, '10:02:00', '10:03:00'],
  ])('%s', (_, prev, interval, now, want) => {
    const day = '2026-03-10T';
    expect(nextRunAt(at(`${day}${prev}Z`), interval, at(`${day}${now}Z`))).toBe(
      at(`${day}${want}Z`),
    );
  });

  it.each([0, -MINUTE, Number.NaN])('refuses the non-positive interval %s', (interval) => {
    expect(() => nextRunAt(0, interval, 1)).toThrow(RangeError);
  });
});

describe('rearmAfterClockJump', () => {
  const interval = MINUTE;
  const jitter = 6_000;

  it('leaves a slot within one interval plus jitter alone', () => {
    const now = at('2025-03-01T00:00:00Z');
    expect(rearmAfterClockJump(now + interval + jitter, interval, now, jitter)).toBe(
      now + interval + jitter,
    );
  });

  it('moves a slot stranded by a backwards clock jump onto the first grid slot after now', () => {
    const next = at('2025-03-01T10:00:07Z');
    const now = at('2025-03-01T08:00:30Z');
    expect(rearmAfterClockJump(next, interval, now, jitter)).toBe(at('2025-03-01T08:01:07Z'));
  });

  it('keeps the grid phase when the jump is a whole number of intervals', () => {
    const next = at('2025-03-01T10:00:00Z');
    const now = at('2025-03-01T09:00:00Z');
    expect(rearmAfterClockJump(next, interval, now, jitter)).toBe(at('2025-03-01T09:01:00Z'));
  });
});
