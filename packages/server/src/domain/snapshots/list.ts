/** Listing snapshots (`GET /snapshots`), filtered and paged in a stable order. */
import type { Page, PageRequest } from '../../store/list-query.js';
import type { SnapshotRecord } from '../../store/snapshots-repo.js';
import { InvalidRequestError } from '../errors.js';
import type { DomainContext } from '../instances/context.js';
import { SNAPSHOT_KINDS, type SnapshotKind } from '../instances/state.js';

/** The filters of `GET /snapshots`. */
export interface SnapshotListQuery {
  source_instance_id?: string;
  kind?: string;
  name?: string;
  /** Exact `k=v` pairs, ANDed (`tags[k]=v` in the query string). */
  tags?: Record<string, string>;
}

/** One page of snapshots matching the query, oldest first. */
export function listSnapshots(
  ctx: DomainContext,
  query: SnapshotListQuery = {},
  page: PageRequest = {},
): Page<SnapshotRecord> {
  let kind: SnapshotKind | undefined;
  if (query.kind !== undefined) {
    kind = SNAPSHOT_KINDS.find((k) => k === query.kind);
    if (!kind) {
      throw new InvalidRequestError(
        `kind "${query.kind}" is not valid; use ${SNAPSHOT_KINDS.join(' or ')}`,
      );
    }
  }
  return ctx.repos.snapshots.list(
    { sourceInstanceId: query.source_instance_id, kind, name: query.name, tags: query.tags },
    page,
  );
}
