/**
 * Input rules shared by instances, snapshots and images: names, tags, memory sizes. Each
 * failure is a 400 `invalid_request` that names the field and says what would be accepted.
 */
import { InvalidRequestError } from '../errors.js';
import { RESERVED_TAG_PREFIXES, TAG_CHARSET, TAG_LIMITS } from '../tags.js';

/** Instance and snapshot names (hypeman's rule): lowercase letters, digits, inner dashes. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** The longest instance or snapshot name. */
export const NAME_MAX_LENGTH = 63;

/** Checks a name against {@link NAME_PATTERN}; returns it. */
export function validateName(field: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidRequestError(`${field} is required`);
  }
  if (name.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(name)) {
    throw new InvalidRequestError(
      `${field} "${name}" is not valid: use at most ${NAME_MAX_LENGTH} lowercase letters, digits and dashes, not starting or ending with a dash`,
    );
  }
  return name;
}

/**
 * Checks tags; returns a copy. Reserved prefixes are refused from every caller: the server
 * writes its provenance tags itself (see `snapshots/create.ts`).
 */
export function validateTags(field: string, tags: unknown): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags)) {
    throw new InvalidRequestError(`${field} must be an object of string values`);
  }
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > TAG_LIMITS.maxEntries) {
    throw new InvalidRequestError(
      `${field} has ${entries.length} entries; at most ${TAG_LIMITS.maxEntries} are allowed`,
    );
  }
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > TAG_LIMITS.maxKeyLength || !TAG_CHARSET.test(key)) {
      throw new InvalidRequestError(
        `${field} key "${key}" is not valid: use 1-${TAG_LIMITS.maxKeyLength} characters from A-Z a-z 0-9 space _ . : / = + @ -`,
      );
    }
    const reserved = RESERVED_TAG_PREFIXES.find((p) => key.startsWith(p));
    if (reserved) {
      throw new InvalidRequestError(
        `${field} key "${key}" uses the reserved prefix "${reserved}"; choose another key`,
      );
    }
    if (
      typeof value !== 'string' ||
      value.length > TAG_LIMITS.maxValueLength ||
      !TAG_CHARSET.test(value)
    ) {
      throw new InvalidRequestError(
        `${field} value for "${key}" is not valid: use a string of at most ${TAG_LIMITS.maxValueLength} characters from A-Z a-z 0-9 space _ . : / = + @ -`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Environment variables: string values under names a shell would accept. */
export function validateEnv(env: unknown): Record<string, string> {
  if (env === undefined || env === null) return {};
  if (typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidRequestError('env must be an object of string values');
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new InvalidRequestError(`env name "${key}" is not valid: use letters, digits and _`);
    }
    if (typeof value !== 'string') {
      throw new InvalidRequestError(`env value for "${key}" must be a string`);
    }
    out[key] = value;
  }
  return out;
}

const UNIT = 1024;
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  byte: 1,
  bytes: 1,
  k: UNIT,
  kb: UNIT,
  kib: UNIT,
  m: UNIT ** 2,
  mb: UNIT ** 2,
  mib: UNIT ** 2,
  g: UNIT ** 3,
  gb: UNIT ** 3,
  gib: UNIT ** 3,
  t: UNIT ** 4,
  tb: UNIT ** 4,
  tib: UNIT ** 4,
};

/**
 * Parses a memory size the way hypeman does ("512MB", "1GB", "2G", "1.5GB", "256 MiB"): units
 * are binary (1 KB = 1024 bytes), case-insensitive, and a capital prefix with a lowercase `b`
 * ("Mb") is refused because it reads as bits.
 */
export function parseSize(field: string, text: string): number {
  const match = /^(\d+(?:\.\d*)?)\s*([A-Za-z]*)$/.exec(text.trim());
  const unitText = match?.[2] ?? '';
  if (match && /^[KMGTPE]b$/.test(unitText)) {
    throw new InvalidRequestError(
      `${field} "${text}" reads as bits; write ${unitText[0]}B for bytes`,
    );
  }
  const factor = match ? SIZE_UNITS[unitText.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new InvalidRequestError(`${field} "${text}" is not a size; write it like 512MB or 1GB`);
  }
  return Math.floor(Number(match[1]) * factor);
}

/**
 * Formats bytes as hypeman's responses do (its size library's human-readable form): one
 * decimal and the largest unit the value strictly exceeds, so 512 MiB is "512.0 MB" and
 * exactly 1 GiB is "1024.0 MB".
 */
export function formatSize(bytes: number): string {
  const units = ['TB', 'GB', 'MB', 'KB'] as const;
  for (const [i, unit] of units.entries()) {
    const size = UNIT ** (units.length - i);
    if (bytes > size) return `${(bytes / size).toFixed(1)} ${unit}`;
  }
  return `${bytes} B`;
}
