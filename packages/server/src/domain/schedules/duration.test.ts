import { describe, expect, it } from 'vitest';
import { formatDuration, InvalidDurationError, parseDuration } from './duration.js';

const NS = 1n;
const US = 1_000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
const M = 60n * S;
const H = 60n * M;

describe('parseDuration', () => {
  // The accepted inputs of Go's own time.ParseDuration tests and documentation.
  it.each<[string, bigint]>([
    ['0', 0n],
    ['5s', 5n * S],
    ['30s', 30n * S],
    ['1478s', 1478n * S],
    ['-5s', -5n * S],
    ['+5s', 5n * S],
    ['-0', 0n],
    ['+0', 0n],
    ['5.0s', 5n * S],
    ['5.6s', 5n * S + 600n * MS],
    ['5.s', 5n * S],
    ['.5s', 500n * MS],
    ['1.0s', S],
    ['1.00s', S],
    ['1.004s', S + 4n * MS],
    ['1.0040s', S + 4n * MS],
    ['100.00100s', 100n * S + MS],
    ['10ns', 10n * NS],
    ['11us', 11n * US],
    ['12µs', 12n * US],
    ['12μs', 12n * US],
    ['13ms', 13n * MS],
    ['14s', 14n * S],
    ['15m', 15n * M],
    ['16h', 16n * H],
    ['3h30m', 3n * H + 30n * M],
    ['10.5s4m', 4n * M + 10n * S + 500n * MS],
    ['-2m3.4s', -(2n * M + 3n * S + 400n * MS)],
    ['1h2m3s4ms5us6ns', H + 2n * M + 3n * S + 4n * MS + 5n * US + 6n * NS],
    ['39h9m14.425s', 39n * H + 9n * M + 14n * S + 425n * MS],
    ['52763797000ns', 52763797000n],
    ['0.3333333333333333333h', 20n * M],
    ['9007199254740993ns', 9007199254740993n],
    ['9223372036854775807ns', 9223372036854775807n],
    ['9223372036854775.807us', 9223372036854775807n],
    ['9223372036854ms775us807ns', 9223372036854775807n],
    ['-9223372036854775808ns', -9223372036854775808n],
    ['-2562047h47m16.854775808s', -9223372036854775808n],
    ['0.100000000000000000000h', 6n * M],
    ['0.830103483285477580700h', 49n * M + 48n * S + 372539827n],
    ['90s', 90n * S],
    ['1.5h', 90n * M],
    ['300ms', 300n * MS],
  ])('parses %j', (text, want) => {
    expect(parseDuration(text)).toBe(want);
  });

  // Go's rejected inputs, plus the ones the API cases name (BB-31): no days, no ISO 8601,
  // no trailing space, no int64 overflow.
  it.each([
    '',
    '3',
    '-',
    's',
    '.',
    '-.',
    '.s',
    '+.s',
    '1d',
    '7d',
    'P1D',
    'PT1H',
    'abc',
    '1m ',
    ' 1m',
    '1 m',
    '\u0085\u0085',
    '9223372036854775808ns',
    '9223372036854775.808us',
    '9223372036854ms775us808ns',
    '-9223372036854775809ns',
    '2562048h',
  ])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(InvalidDurationError);
  });

  it('names the unknown unit in its message', () => {
    expect(() => parseDuration('1d')).toThrow('unknown unit "d" in duration "1d"');
  });
});

describe('formatDuration', () => {
  // Go's Duration.String() table and the canonical forms the hypeman API writes back.
  it.each<[bigint, string]>([
    [0n, '0s'],
    [1n, '1ns'],
    [1100n, '1.1µs'],
    [2200n * US, '2.2ms'],
    [3300n * MS, '3.3s'],
    [4n * M + 5n * S, '4m5s'],
    [4n * M + 5001n * MS, '4m5.001s'],
    [5n * H + 6n * M + 7001n * MS, '5h6m7.001s'],
    [8n * M + 1n, '8m0.000000001s'],
    [9223372036854775807n, '2562047h47m16.854775807s'],
    [-9223372036854775808n, '-2562047h47m16.854775808s'],
    [24n * H, '24h0m0s'],
    [M, '1m0s'],
    [90n * S, '1m30s'],
    [1500n * MS, '1.5s'],
    [168n * H, '168h0m0s'],
    [-5n * S, '-5s'],
  ])('formats %s ns as %j', (ns, want) => {
    expect(formatDuration(ns)).toBe(want);
  });

  it('round-trips what it formats', () => {
    for (const text of ['1h30m', '1.5h', '90s', '300ms', '24h', '1h2m3s4ms5us6ns']) {
      const ns = parseDuration(text);
      expect(parseDuration(formatDuration(ns))).toBe(ns);
    }
  });
});
