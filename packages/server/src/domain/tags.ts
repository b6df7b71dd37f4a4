/**
 * The tag vocabulary every part of the domain shares (hypeman lib/tags): limits, the allowed
 * characters, and the reserved keys that carry a scheduled snapshot's provenance.
 */

/** At most 50 pairs; keys 1–128 characters, values at most 256. */
export const TAG_LIMITS = { maxEntries: 50, maxKeyLength: 128, maxValueLength: 256 };

/** The characters a tag key or value may use. */
export const TAG_CHARSET = /^[A-Za-z0-9 _.:/=+@-]*$/;

/** Keys under these prefixes are the server's; users may not write them. */
export const RESERVED_TAG_PREFIXES = ['hypeman.', 'vmkeep.'] as const;

/** Written on every scheduled snapshot, as hypeman does, for hypeman's clients. */
export const SCHEDULED_TAG = 'hypeman.scheduled';
/** Names the instance whose schedule took a snapshot. */
export const SCHEDULE_INSTANCE_TAG = 'hypeman.schedule_instance_id';

/** A schedule's metadata becomes its snapshots' tags, beside the two provenance tags. */
export const MAX_SCHEDULE_METADATA = TAG_LIMITS.maxEntries - 2;

/** True if `key` uses a reserved prefix. */
export function isReservedTag(key: string): boolean {
  return RESERVED_TAG_PREFIXES.some((prefix) => key.startsWith(prefix));
}
