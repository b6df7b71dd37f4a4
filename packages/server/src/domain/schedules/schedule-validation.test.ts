import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors.js';
import { parseDuration } from './duration.js';
import { validateScheduleBody } from './schedule-validation.js';

const MIN_INTERVAL = parseDuration('1m');

function rejection(body: unknown): { field: unknown; message: string } {
  try {
    validateScheduleBody(body, MIN_INTERVAL);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    const invalid = error as InvalidRequestError;
    return { field: invalid.details?.field, message: invalid.message };
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe('validateScheduleBody', () => {
  it('returns the configuration a valid body describes', () => {
    expect(
      validateScheduleBody(
        {
          interval: '1h30m',
          name_prefix: 'nightly',
          metadata: { env: 'prod' },
          retention: { max_count: 0, max_age: '168h' },
        },
        MIN_INTERVAL,
      ),
    ).toEqual({
      intervalNs: parseDuration('90m'),
      namePrefix: 'nightly',
      metadata: { env: 'prod' },
      maxCount: 0,
      maxAgeNs: parseDuration('168h'),
    });
  });

  it('treats an empty or null prefix and null metadata as unset', () => {
    expect(
      validateScheduleBody(
        { interval: '1m', name_prefix: '', metadata: null, retention: { max_count: 1 } },
        MIN_INTERVAL,
      ),
    ).toMatchObject({ namePrefix: null, metadata: {}, maxAgeNs: 0n });
  });

  // hypeman's order: the schema's shape first, then the handler's checks, then the manager's.
  it.each<[string, unknown, string, RegExp]>([
    ['no body', undefined, 'body', /request body must be a JSON object/],
    ['an array body', [], 'body', /request body/],
    ['a missing interval', { retention: { max_count: 1 } }, 'interval', /interval is required/],
    ['a numeric interval', { interval: 60, retention: { max_count: 1 } }, 'interval', /required/],
    ['a null interval', { interval: null, retention: { max_count: 1 } }, 'interval', /required/],
    ['a missing retention', { interval: '1m' }, 'retention', /retention is required/],
    [
      'a bad prefix before a bad interval',
      { interval: 'abc', name_prefix: 'Bad', retention: { max_count: 1 } },
      'name_prefix',
      /lowercase letters/,
    ],
    [
      'a negative max_count (schema) before a bad interval',
      { interval: 'abc', retention: { max_count: -1 } },
      'retention.max_count',
      /integer >= 0/,
    ],
    [
      'a max_count beyond a million',
      { interval: '1m', retention: { max_count: 1e300 } },
      'retention.max_count',
      /at most 1000000; use max_age/,
    ],
    [
      'a fractional max_count',
      { interval: '1m', retention: { max_count: 1.5 } },
      'retention.max_count',
      /integer/,
    ],
    [
      'a numeric max_age',
      { interval: '1m', retention: { max_age: 3600 } },
      'retention.max_age',
      /duration string/,
    ],
    [
      'an unparsable interval',
      { interval: '1d', retention: { max_count: 1 } },
      'interval',
      /^interval must be a valid duration .*unknown unit "d"/,
    ],
    [
      'an empty retention before a short interval',
      { interval: '30s', retention: {} },
      'retention',
      /^retention must include max_count or max_age$/,
    ],
    [
      'an unparsable max_age',
      { interval: '1m', retention: { max_age: '7d' } },
      'retention.max_age',
      /^retention.max_age must be a valid duration/,
    ],
    [
      'a short interval before zero retention',
      { interval: '30s', retention: { max_count: 0 } },
      'interval',
      /^invalid request: interval 30s is below the minimum 1m0s/,
    ],
    [
      'a reserved metadata key',
      { interval: '1m', metadata: { 'hypeman.scheduled': 'true' }, retention: { max_count: 1 } },
      'metadata',
      /reserved prefix "hypeman\."/,
    ],
    [
      'a vmkeep metadata key',
      { interval: '1m', metadata: { 'vmkeep.pinned': 'x' }, retention: { max_count: 1 } },
      'metadata',
      /reserved prefix "vmkeep\."/,
    ],
    [
      'a non-string metadata value',
      { interval: '1m', metadata: { env: 1 }, retention: { max_count: 1 } },
      'metadata',
      /string values/,
    ],
    [
      'a metadata key with a forbidden character',
      { interval: '1m', metadata: { 'a,b': 'x' }, retention: { max_count: 1 } },
      'metadata',
      /metadata key "a,b"/,
    ],
    [
      'too many metadata keys',
      {
        interval: '1m',
        metadata: Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, 'v'])),
        retention: { max_count: 1 },
      },
      'metadata',
      /49 keys; at most 48/,
    ],
    [
      'a negative max_age',
      { interval: '1m', retention: { max_age: '-1h' } },
      'retention.max_age',
      /must not be negative, got -1h0m0s/,
    ],
    [
      'both retention rules zero',
      { interval: '1m', retention: { max_count: 0, max_age: '0s' } },
      'retention',
      /^invalid request: retention.max_count or retention.max_age must be set/,
    ],
  ])('rejects %s', (_, body, field, message) => {
    const got = rejection(body);
    expect(got.field).toBe(field);
    expect(got.message).toMatch(message);
  });
});
