/**
 * Names of scheduled snapshots: `<prefix>-YYYYMMDD-HHMMSS`, the run time in UTC (never local
 * time, so a DST change cannot repeat or skip a name, BB-06).
 *
 * Collisions (BB-24): a snapshot name is unique per source instance, and a user may already
 * have taken the name a run wants (say a manual `scheduled-20250301-000100`). A run never
 * overwrites it and never reports a phantom success: it tries the next free name with a
 * numeric suffix (`scheduled-20250301-000100-2`, then `-3` …) and succeeds with
 * `last_error` null. Only when every candidate is taken does the run fail, with `last_error`
 * naming the conflict. A suffixed name shortens the prefix if needed to stay within 63
 * characters.
 */

/** Used when a schedule has no `name_prefix`. */
export const DEFAULT_NAME_PREFIX = 'scheduled';

/** 63 (the longest snapshot name) − 15 (the timestamp) − 1 (the dash). */
export const MAX_NAME_PREFIX_LENGTH = 47;

const MAX_NAME_LENGTH = 63;

/** The snapshot and instance name rule, which `name_prefix` also follows. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** How many names a run tries before failing on a collision: the plain one and `-2` … `-5`. */
export const NAME_CANDIDATES = 5;

/** Whether `name` is a valid snapshot name. */
export function isValidSnapshotName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

/** `YYYYMMDD-HHMMSS` of an instant, in UTC, truncated to the second. */
export function nameTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // always UTC: 2025-03-01T00:01:00.000Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/**
 * The name a run at `runTimeMs` takes. A stored prefix that is too long (only possible if data
 * was written by hand) is cut and dash-trimmed rather than producing an invalid name; if the
 * result is still invalid the name falls back to `s-<timestamp>`, as hypeman does.
 */
export function buildSnapshotName(
  prefix: string | null | undefined,
  runTimeMs: number,
  suffix = '',
): string {
  const room = MAX_NAME_PREFIX_LENGTH - suffix.length;
  const chosen = prefix ? prefix : DEFAULT_NAME_PREFIX;
  const cut = chosen.slice(0, room).replace(/^-+|-+$/g, '') || 's';
  const name = `${cut}-${nameTimestamp(runTimeMs)}${suffix}`;
  return isValidSnapshotName(name) ? name : `s-${nameTimestamp(runTimeMs)}${suffix}`;
}

/** The names a run tries in order when earlier ones are taken (see the file comment). */
export function snapshotNameCandidates(
  prefix: string | null | undefined,
  runTimeMs: number,
): string[] {
  return Array.from({ length: NAME_CANDIDATES }, (_, i) =>
    buildSnapshotName(prefix, runTimeMs, i === 0 ? '' : `-${i + 1}`),
  );
}
