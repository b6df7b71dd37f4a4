/**
 * Validation of a PUT snapshot-schedule body, in hypeman's order so the same bad body gets the
 * same first complaint (hypeman.md §3.2): first the shape the OpenAPI schema describes, then
 * the handler's checks (durations parse, retention present), then the manager's rules
 * (minimum interval, prefix, metadata, signs, retention not all zero). Every failure is an
 * `invalid_request` naming the field; nothing a client sends gets past here malformed.
 */
import { InvalidRequestError } from '../errors.js';
import { MAX_SCHEDULE_METADATA, RESERVED_TAG_PREFIXES, TAG_CHARSET, TAG_LIMITS } from '../tags.js';
import { formatDuration, InvalidDurationError, parseDuration } from './duration.js';
import { MAX_NAME_PREFIX_LENGTH, NAME_PATTERN } from './naming.js';

/** A validated schedule configuration. */
export interface ScheduleConfig {
  intervalNs: bigint;
  /** Null means the default prefix. */
  namePrefix: string | null;
  metadata: Record<string, string>;
  maxCount: number;
  maxAgeNs: bigint;
}

/**
 * The largest `max_count`: a year of one-minute snapshots fits, and the number stays exact in
 * JSON and in hypeman's Go clients (an int64), which `1e300` would not.
 */
export const MAX_RETENTION_COUNT = 1_000_000;

/** Checks a PUT body and returns the configuration it describes. */
export function validateScheduleBody(body: unknown, minIntervalNs: bigint): ScheduleConfig {
  // 1. Shape (what hypeman's OpenAPI validator rejects before its handler runs).
  if (!isObject(body)) {
    throw invalid('body', 'request body must be a JSON object with interval and retention');
  }
  const { interval, retention, name_prefix: namePrefix, metadata } = body;
  if (typeof interval !== 'string') {
    throw invalid('interval', 'interval is required and must be a duration string such as "1h"');
  }
  if (!isObject(retention)) {
    throw invalid('retention', 'retention is required: set retention.max_count or max_age');
  }
  checkPrefix(namePrefix);
  if (metadata !== undefined && metadata !== null && !isStringMap(metadata)) {
    throw invalid('metadata', 'metadata must be an object of string values');
  }
  const maxCount = retention.max_count ?? undefined;
  const maxAge = retention.max_age ?? undefined;
  if (maxCount !== undefined && !(Number.isInteger(maxCount) && (maxCount as number) >= 0)) {
    throw invalid(
      'retention.max_count',
      'retention.max_count must be an integer >= 0 (0 turns the count rule off)',
    );
  }
  if ((maxCount as number) > MAX_RETENTION_COUNT) {
    throw invalid(
      'retention.max_count',
      `retention.max_count must be at most ${MAX_RETENTION_COUNT}; use max_age for longer histories`,
    );
  }
  if (maxAge !== undefined && typeof maxAge !== 'string') {
    throw invalid(
      'retention.max_age',
      'retention.max_age must be a duration string such as "168h"',
    );
  }

  // 2. The handler's checks.
  const intervalNs = duration('interval', interval);
  if (maxCount === undefined && maxAge === undefined) {
    throw invalid('retention', 'retention must include max_count or max_age');
  }
  const maxAgeNs = maxAge === undefined ? 0n : duration('retention.max_age', maxAge);

  // 3. The manager's rules, in its order.
  if (intervalNs < minIntervalNs) {
    throw invalid(
      'interval',
      `invalid request: interval ${formatDuration(intervalNs)} is below the minimum ` +
        `${formatDuration(minIntervalNs)}; use a longer interval`,
    );
  }
  const tags = (metadata ?? {}) as Record<string, string>;
  checkMetadata(tags);
  if (maxAgeNs < 0n) {
    throw invalid(
      'retention.max_age',
      `invalid request: retention.max_age must not be negative, got ${formatDuration(maxAgeNs)}`,
    );
  }
  if ((maxCount ?? 0) === 0 && maxAgeNs === 0n) {
    throw invalid(
      'retention',
      'invalid request: retention.max_count or retention.max_age must be set; ' +
        'both are zero, which would keep snapshots forever',
    );
  }

  return {
    intervalNs,
    namePrefix: typeof namePrefix === 'string' && namePrefix !== '' ? namePrefix : null,
    metadata: { ...tags },
    maxCount: (maxCount as number | undefined) ?? 0,
    maxAgeNs,
  };
}

/**
 * Checks a schedule's metadata: at most 48 entries, keys of 1–128 and values of 0–256 characters
 * from `[A-Za-z0-9 _.:/=+@-]`, and no reserved key, so a user can never forge provenance.
 */
export function checkMetadata(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_SCHEDULE_METADATA) {
    throw invalid(
      'metadata',
      `invalid request: metadata has ${entries.length} keys; at most ${MAX_SCHEDULE_METADATA} are allowed ` +
        '(each scheduled snapshot also carries the two hypeman.* tags)',
    );
  }
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > TAG_LIMITS.maxKeyLength || !TAG_CHARSET.test(key)) {
      throw invalid(
        'metadata',
        `invalid request: metadata key ${JSON.stringify(key)} must be 1-${TAG_LIMITS.maxKeyLength} ` +
          'characters from letters, digits, space and _.:/=+@-',
      );
    }
    if (value.length > TAG_LIMITS.maxValueLength || !TAG_CHARSET.test(value)) {
      throw invalid(
        'metadata',
        `invalid request: metadata value of ${JSON.stringify(key)} must be at most ` +
          `${TAG_LIMITS.maxValueLength} characters from letters, digits, space and _.:/=+@-`,
      );
    }
    const reserved = RESERVED_TAG_PREFIXES.find((prefix) => key.startsWith(prefix));
    if (reserved) {
      throw invalid(
        'metadata',
        `invalid request: metadata key ${JSON.stringify(key)} uses the reserved prefix ` +
          `"${reserved}"; choose another key`,
      );
    }
  }
}

function checkPrefix(prefix: unknown): void {
  if (prefix === undefined || prefix === null || prefix === '') return;
  if (typeof prefix !== 'string') throw invalid('name_prefix', 'name_prefix must be a string');
  if (prefix.length > MAX_NAME_PREFIX_LENGTH) {
    throw invalid(
      'name_prefix',
      `name_prefix must be at most ${MAX_NAME_PREFIX_LENGTH} characters, got ${prefix.length}`,
    );
  }
  if (!NAME_PATTERN.test(prefix)) {
    throw invalid(
      'name_prefix',
      `name_prefix ${JSON.stringify(prefix)} must be lowercase letters, digits and inner dashes`,
    );
  }
}

function duration(field: string, text: string): bigint {
  try {
    return parseDuration(text);
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    throw invalid(
      field,
      `${field} must be a valid duration such as "90s" or "1h30m" (units ns, us, ms, s, m, h; ` +
        `no days): ${error.message}`,
    );
  }
}

function invalid(field: string, message: string): InvalidRequestError {
  return new InvalidRequestError(message, { field });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}
