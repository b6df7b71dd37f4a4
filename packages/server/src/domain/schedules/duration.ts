/**
 * Go duration strings (`90s`, `1h30m`, `1.5h`, `300ms`), the wire format of hypeman's schedule
 * `interval` and `retention.max_age`. Parsing follows Go's `time.ParseDuration` grammar and
 * limits exactly, so a value hypeman accepts is accepted here and the reverse; formatting gives
 * Go's canonical `Duration.String()` form (`24h` → `24h0m0s`). Values are integer nanoseconds
 * as `bigint`: the int64 range Go allows does not fit a JavaScript number.
 */

/** Nanoseconds per unit. Go accepts both the micro sign (U+00B5) and Greek mu (U+03BC). */
const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** 2^63: the magnitude of the most negative int64; positive results stop one below it. */
const INT64_LIMIT = 1n << 63n;

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;
export const NS_PER_MINUTE = 60n * NS_PER_SECOND;

/** Thrown for a string that Go's `time.ParseDuration` would reject. */
export class InvalidDurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidDurationError';
  }
}

/**
 * Parses a Go duration string into nanoseconds. Accepts an optional sign, then one or more
 * `<decimal><unit>` terms (`1h30m`, `.5s`, `5.s`); the bare string `0` (signed or not) is zero.
 * Rejects an empty string, a missing or unknown unit (there is no `d`), any other character
 * (`"1m "`), and anything outside the int64 nanosecond range.
 */
export function parseDuration(text: string): bigint {
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw new InvalidDurationError(`invalid duration ${JSON.stringify(text)}`);

  let total = 0n;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest)?.[0] ?? '';
    const [whole = '', fraction] = number.split('.');
    // A term needs a digit before or after the point: ".s" and "." are not numbers.
    if (whole === '' && !fraction) {
      throw new InvalidDurationError(`invalid duration ${JSON.stringify(text)}`);
    }
    rest = rest.slice(number.length);

    // Go reads the unit as everything up to the next digit or point, so "m " is a unit name.
    const unit = /^[^.\d]*/.exec(rest)?.[0] ?? '';
    if (unit === '') {
      throw new InvalidDurationError(`missing unit in duration ${JSON.stringify(text)}`);
    }
    const unitNs = UNIT_NS[unit];
    if (unitNs === undefined) {
      throw new InvalidDurationError(
        `unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}`,
      );
    }
    rest = rest.slice(unit.length);

    let termNs = BigInt(whole || '0') * unitNs + fractionNs(fraction ?? '', unitNs);
    if (termNs > INT64_LIMIT) termNs = INT64_LIMIT + 1n;
    total += termNs;
    if (total > INT64_LIMIT) {
      throw new InvalidDurationError(`invalid duration ${JSON.stringify(text)}: out of range`);
    }
  }
  if (negative) return -total;
  if (total >= INT64_LIMIT) {
    throw new InvalidDurationError(`invalid duration ${JSON.stringify(text)}: out of range`);
  }
  return total;
}

/**
 * The nanoseconds a decimal fraction of `unitNs` adds. Go computes this in float64 (after
 * keeping at most as many digits as fit in 63 bits) and truncates; doing the same keeps
 * `0.3333333333333333333h` equal to Go's `20m0s` rather than one nanosecond off.
 */
function fractionNs(digits: string, unitNs: bigint): bigint {
  let value = 0n;
  let scale = 1;
  for (const digit of digits) {
    const next = value * 10n + BigInt(digit);
    if (next > INT64_LIMIT) break;
    value = next;
    scale *= 10;
  }
  if (value === 0n) return 0n;
  return BigInt(Math.trunc(Number(value) * (Number(unitNs) / scale)));
}

/**
 * Formats nanoseconds in Go's canonical `Duration.String()` form: `0s`, `1.5s`, `1m30s`,
 * `24h0m0s`; below a second the largest of ms, µs, ns that fits (`300ms`, `1.5µs`).
 */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const magnitude = ns < 0n ? -ns : ns;
  const sign = ns < 0n ? '-' : '';
  if (magnitude < NS_PER_SECOND) {
    if (magnitude < 1_000n) return `${sign}${magnitude}ns`;
    if (magnitude < NS_PER_MS) return `${sign}${decimal(magnitude, 1_000n)}µs`;
    return `${sign}${decimal(magnitude, NS_PER_MS)}ms`;
  }
  const seconds = `${decimal(magnitude % NS_PER_MINUTE, NS_PER_SECOND)}s`;
  const minutes = magnitude / NS_PER_MINUTE;
  if (minutes === 0n) return `${sign}${seconds}`;
  const hours = minutes / 60n;
  return `${sign}${hours > 0n ? `${hours}h` : ''}${minutes % 60n}m${seconds}`;
}

/** `value / scale` as a decimal without trailing zeros (`1500, 1000` → `1.5`). */
function decimal(value: bigint, scale: bigint): string {
  const whole = value / scale;
  const fraction = value % scale;
  if (fraction === 0n) return `${whole}`;
  const width = scale.toString().length - 1;
  return `${whole}.${fraction.toString().padStart(width, '0').replace(/0+$/, '')}`;
}

/** Whole milliseconds in a duration, truncated: the resolution of stored times. */
export function durationToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}
