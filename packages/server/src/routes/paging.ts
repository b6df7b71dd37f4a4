/**
 * Paging of the list operations (`GET /instances`, `GET /snapshots`): the body stays hypeman's
 * plain JSON array, and the cursor of the next page travels in the `X-Next-Cursor` header.
 */
import type { Page, PageRequest } from '../store/list-query.js';

/** The `limit` and `cursor` query parameters, as the repositories' keyset paging takes them. */
export function pageRequest(query: { limit?: number; cursor?: string }): PageRequest {
  const page: PageRequest = {};
  if (query.limit !== undefined) page.limit = query.limit;
  if (query.cursor !== undefined) page.cursor = query.cursor;
  return page;
}

/** `X-Next-Cursor` when another page follows; no header on the last page. */
export function pageHeaders(page: Page<unknown>): { 'X-Next-Cursor'?: string } {
  return page.nextCursor === null ? {} : { 'X-Next-Cursor': page.nextCursor };
}
