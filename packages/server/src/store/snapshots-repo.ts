/**
 * The `snapshots` table: the index of snapshot payloads under `<data>/snapshots/<id>/`. A row
 * is `creating` while its payload is being written and `ready` once the payload is complete
 * and in place; the domain never leaves a `failed` row behind (see domain/snapshots/create.ts).
 */
import type { HypervisorKind } from '@vmkeep/hypervisor';
import type { SnapshotKind } from '../domain/instances/state.js';
import type { Db } from './db.js';
import { DynamicStatements, type PatchColumns } from './dynamic-statements.js';
import {
  decodeCursor,
  fetchSize,
  type Page,
  type PageRequest,
  parseStringMap,
  tagFilterSql,
  toPage,
} from './list-query.js';

/** Where a snapshot is in its life: being written, complete, or failed. */
export type SnapshotStatus = 'creating' | 'ready' | 'failed';

/** One row of `snapshots`. */
export interface SnapshotRecord {
  seq: number;
  id: string;
  name: string | null;
  kind: SnapshotKind;
  status: SnapshotStatus;
  error: string | null;
  tags: Record<string, string>;
  pinned: boolean;
  sourceInstanceId: string;
  sourceInstanceName: string;
  sourceHypervisor: HypervisorKind;
  /** Provenance: the instance whose schedule took it. Written only by the server. */
  scheduleInstanceId: string | null;
  scheduleRunId: string | null;
  sizeBytes: number;
  /** How long the guest was frozen for the capture. */
  downtimeMs: number | null;
  /** Epoch ms; when the capture completed (when it started, while `creating`). */
  createdAt: number;
}

/** A record before the database gives it its `seq`. */
export type NewSnapshot = Omit<SnapshotRecord, 'seq'>;

/** Fields that may change after insert. */
export type SnapshotPatch = Partial<
  Pick<
    SnapshotRecord,
    'status' | 'error' | 'sizeBytes' | 'downtimeMs' | 'createdAt' | 'tags' | 'pinned'
  >
>;

/** Filters of the snapshot list. */
export interface SnapshotFilter {
  sourceInstanceId?: string;
  kind?: SnapshotKind;
  name?: string;
  /** Exact `k=v` pairs, ANDed. */
  tags?: Record<string, string>;
  status?: SnapshotStatus;
}

interface SnapshotRow {
  seq: number;
  id: string;
  name: string | null;
  kind: string;
  status: string;
  error: string | null;
  tags: string;
  pinned: number;
  source_instance_id: string;
  source_instance_name: string;
  source_hypervisor: string;
  schedule_instance_id: string | null;
  schedule_run_id: string | null;
  size_bytes: number;
  downtime_ms: number | null;
  created_at: number;
}

const PATCH_COLUMNS: PatchColumns<SnapshotPatch> = {
  names: {
    status: 'status',
    error: 'error',
    sizeBytes: 'size_bytes',
    downtimeMs: 'downtime_ms',
    createdAt: 'created_at',
    tags: 'tags',
    pinned: 'pinned',
  },
  encode: encodeValue,
};

/** Prepared statements over `snapshots`. */
export class SnapshotsRepo {
  private readonly stmts;
  private readonly dynamic: DynamicStatements;

  constructor(db: Db) {
    this.dynamic = new DynamicStatements(db);
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO snapshots (id, name, kind, status, error, tags, pinned, source_instance_id,
           source_instance_name, source_hypervisor, schedule_instance_id, schedule_run_id,
           size_bytes, downtime_ms, created_at)
         VALUES (@id, @name, @kind, @status, @error, @tags, @pinned, @source_instance_id,
           @source_instance_name, @source_hypervisor, @schedule_instance_id, @schedule_run_id,
           @size_bytes, @downtime_ms, @created_at)`,
      ),
      get: db.prepare<[string], SnapshotRow>('SELECT * FROM snapshots WHERE id = ?'),
      byName: db.prepare<[string, string], SnapshotRow>(
        'SELECT * FROM snapshots WHERE source_instance_id = ? AND name = ?',
      ),
      scheduled: db.prepare<[string], SnapshotRow>(
        `SELECT * FROM snapshots WHERE schedule_instance_id = ?
         ORDER BY created_at DESC, seq DESC`,
      ),
      all: db.prepare<[], SnapshotRow>('SELECT * FROM snapshots ORDER BY seq'),
      delete: db.prepare<[string]>('DELETE FROM snapshots WHERE id = ?'),
    };
  }

  /** Inserts a row; the UNIQUE (source_instance_id, name) constraint makes a clash throw. */
  insert(snapshot: NewSnapshot): SnapshotRecord {
    this.stmts.insert.run(toRow(snapshot));
    return this.get(snapshot.id)!;
  }

  get(id: string): SnapshotRecord | undefined {
    const row = this.stmts.get.get(id);
    return row && fromRow(row);
  }

  /** The snapshot of `instanceId` named `name`, whatever its status. */
  getByName(instanceId: string, name: string): SnapshotRecord | undefined {
    const row = this.stmts.byName.get(instanceId, name);
    return row && fromRow(row);
  }

  all(): SnapshotRecord[] {
    return this.stmts.all.all().map(fromRow);
  }

  list(filter: SnapshotFilter = {}, page: PageRequest = {}): Page<SnapshotRecord> {
    const where = ['seq > ?'];
    const params: (string | number)[] = [decodeCursor(page.cursor)];
    const columns: [keyof SnapshotFilter, string][] = [
      ['sourceInstanceId', 'source_instance_id'],
      ['kind', 'kind'],
      ['name', 'name'],
      ['status', 'status'],
    ];
    for (const [key, column] of columns) {
      const value = filter[key];
      if (typeof value !== 'string') continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const tags = tagFilterSql('snapshots', filter.tags);
    where.push(...tags.clauses);
    params.push(...tags.params);
    params.push(fetchSize(page));
    const sql = `SELECT * FROM snapshots WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    const rows = this.dynamic.get(sql).all(...params) as SnapshotRow[];
    return toPage(rows.map(fromRow), page);
  }

  /**
   * Snapshots that `instanceId`'s schedule took, in any status, newest first: the only ones
   * retention may consider (it skips those not `ready`). Provenance comes from the
   * server-written columns, never from tags.
   */
  listScheduled(instanceId: string): SnapshotRecord[] {
    return this.stmts.scheduled.all(instanceId).map(fromRow);
  }

  update(id: string, patch: SnapshotPatch): SnapshotRecord | undefined {
    this.dynamic.patch('snapshots', PATCH_COLUMNS, id, patch);
    return this.get(id);
  }

  delete(id: string): boolean {
    return this.stmts.delete.run(id).changes > 0;
  }
}

function encodeValue(key: keyof SnapshotPatch, value: unknown): unknown {
  if (key === 'tags') return JSON.stringify(value);
  if (key === 'pinned') return value ? 1 : 0;
  return value;
}

function toRow(s: NewSnapshot): Omit<SnapshotRow, 'seq'> {
  return {
    id: s.id,
    name: s.name,
    kind: s.kind,
    status: s.status,
    error: s.error,
    tags: JSON.stringify(s.tags),
    pinned: s.pinned ? 1 : 0,
    source_instance_id: s.sourceInstanceId,
    source_instance_name: s.sourceInstanceName,
    source_hypervisor: s.sourceHypervisor,
    schedule_instance_id: s.scheduleInstanceId,
    schedule_run_id: s.scheduleRunId,
    size_bytes: s.sizeBytes,
    downtime_ms: s.downtimeMs,
    created_at: s.createdAt,
  };
}

function fromRow(row: SnapshotRow): SnapshotRecord {
  return {
    seq: row.seq,
    id: row.id,
    name: row.name,
    kind: row.kind as SnapshotKind,
    status: row.status as SnapshotStatus,
    error: row.error,
    tags: parseStringMap(row.tags),
    pinned: row.pinned === 1,
    sourceInstanceId: row.source_instance_id,
    sourceInstanceName: row.source_instance_name,
    sourceHypervisor: row.source_hypervisor as HypervisorKind,
    scheduleInstanceId: row.schedule_instance_id,
    scheduleRunId: row.schedule_run_id,
    sizeBytes: row.size_bytes,
    downtimeMs: row.downtime_ms,
    createdAt: row.created_at,
  };
}
