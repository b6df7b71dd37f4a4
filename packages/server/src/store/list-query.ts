/**
 * What the instance and snapshot lists share: keyset pagination and the tag filter.
 *
 * Pagination runs over a table's `seq` column. `seq` is AUTOINCREMENT, so it only grows and is
 * never reused: "rows after seq N" is stable while other rows are added or deleted, and a page
 * boundary can neither skip nor repeat a row. The cursor is opaque to clients.
 */
import { InvalidRequestError } from '../domain/errors.js';

/** What a client asks of one page. */
export interface PageRequest {
  /** Rows per page, 1–1000. Without it, everything after the cursor comes back. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** The largest page a client may ask for. */
export const MAX_PAGE_LIMIT = 1000;
const PREFIX = 'v1:';

/** The opaque cursor that points after the row with this `seq`. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`${PREFIX}${seq}`).toString('base64url');
}

/** The seq a cursor points after; 0 without one. Throws 400 on a cursor we did not write. */
export function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = Number(text.slice(PREFIX.length));
  if (!text.startsWith(PREFIX) || !Number.isSafeInteger(seq) || seq < 0) {
    throw new InvalidRequestError(
      `cursor "${cursor}" is not valid; pass the value of X-Next-Cursor`,
    );
  }
  return seq;
}

/** Checks `limit`; returns how many rows to fetch (one more than a page, to see if more exist). */
export function fetchSize(page: PageRequest): number {
  if (page.limit === undefined) return -1;
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_PAGE_LIMIT) {
    throw new InvalidRequestError(
      `limit ${page.limit} is out of range; use an integer from 1 to ${MAX_PAGE_LIMIT}`,
    );
  }
  return page.limit + 1;
}

/** Cuts the extra row off and makes the next cursor from the last row kept. */
export function toPage<T extends { seq: number }>(rows: T[], page: PageRequest): Page<T> {
  if (page.limit === undefined || rows.length <= page.limit)
    return { items: rows, nextCursor: null };
  const items = rows.slice(0, page.limit);
  return { items, nextCursor: encodeCursor(items[items.length - 1]!.seq) };
}

/**
 * SQL for a tag filter: every `k=v` pair must be present exactly (case-sensitive), pairs are
 * ANDed, and a row without tags matches no non-empty filter (hypeman lib/tags).
 */
export function tagFilterSql(
  table: string,
  tags: Record<string, string> | undefined,
): { clauses: string[]; params: string[] } {
  const clauses: string[] = [];
  const params: string[] = [];
  for (const [key, value] of Object.entries(tags ?? {})) {
    clauses.push(
      `EXISTS (SELECT 1 FROM json_each(${table}.tags) AS t WHERE t.key = ? AND t.value = ?)`,
    );
    params.push(key, value);
  }
  return { clauses, params };
}

/** Parses a JSON string map column. */
export function parseStringMap(text: string): Record<string, string> {
  return JSON.parse(text) as Record<string, string>;
}
