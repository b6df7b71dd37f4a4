/** The `instances` table: every guest vmkeep manages, with the state it last established. */
import type { HypervisorKind, VmSpec } from '@vmkeep/hypervisor';
import type { InstanceState } from '../domain/instances/state.js';
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

/** One row of `instances`, with JSON columns parsed. */
export interface InstanceRecord {
  seq: number;
  id: string;
  name: string;
  image: string;
  hypervisor: HypervisorKind;
  vcpus: number;
  memoryBytes: number;
  env: Record<string, string>;
  tags: Record<string, string>;
  state: InstanceState;
  /** Why the state is not what it should be (a failed resume, an unreachable VMM). */
  stateError: string | null;
  pid: number | null;
  /** The device model and file paths the guest runs with. */
  spec: VmSpec;
  /** Epoch ms. */
  createdAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
}

/** A record before the database gives it its `seq`. */
export type NewInstance = Omit<InstanceRecord, 'seq'>;

/** Fields a lifecycle step may change. */
export type InstancePatch = Partial<
  Pick<
    InstanceRecord,
    | 'state'
    | 'stateError'
    | 'pid'
    | 'spec'
    | 'vcpus'
    | 'memoryBytes'
    | 'startedAt'
    | 'stoppedAt'
    | 'tags'
    | 'env'
  >
>;

/** Filters of the instance list. */
export interface InstanceFilter {
  state?: InstanceState;
  /** Exact `k=v` pairs, ANDed. */
  tags?: Record<string, string>;
}

interface InstanceRow {
  seq: number;
  id: string;
  name: string;
  image: string;
  hypervisor: string;
  vcpus: number;
  memory_bytes: number;
  env: string;
  tags: string;
  state: string;
  state_error: string | null;
  pid: number | null;
  spec: string;
  created_at: number;
  started_at: number | null;
  stopped_at: number | null;
}

const PATCH_COLUMNS: PatchColumns<InstancePatch> = {
  names: {
    state: 'state',
    stateError: 'state_error',
    pid: 'pid',
    spec: 'spec',
    vcpus: 'vcpus',
    memoryBytes: 'memory_bytes',
    startedAt: 'started_at',
    stoppedAt: 'stopped_at',
    tags: 'tags',
    env: 'env',
  },
  encode: encodeValue,
};

/** Prepared statements over `instances`. */
export class InstancesRepo {
  private readonly stmts;
  private readonly dynamic: DynamicStatements;

  constructor(db: Db) {
    this.dynamic = new DynamicStatements(db);
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO instances (id, name, image, hypervisor, vcpus, memory_bytes, env, tags, state,
           state_error, pid, spec, created_at, started_at, stopped_at)
         VALUES (@id, @name, @image, @hypervisor, @vcpus, @memory_bytes, @env, @tags, @state,
           @state_error, @pid, @spec, @created_at, @started_at, @stopped_at)`,
      ),
      get: db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE id = ?'),
      byName: db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE name = ?'),
      byPrefix: db.prepare<[string, number], InstanceRow>(
        // GLOB, not LIKE: ids are case-sensitive, and LIKE ignores ASCII case.
        'SELECT * FROM instances WHERE id GLOB ? ORDER BY seq LIMIT ?',
      ),
      all: db.prepare<[], InstanceRow>('SELECT * FROM instances ORDER BY seq'),
      delete: db.prepare<[string]>('DELETE FROM instances WHERE id = ?'),
      countByImage: db
        .prepare<[string], number>('SELECT count(*) FROM instances WHERE image = ?')
        .pluck(),
    };
  }

  /** Inserts a new instance; the UNIQUE name constraint makes a clash throw. */
  insert(instance: NewInstance): InstanceRecord {
    this.stmts.insert.run(toRow(instance));
    return this.get(instance.id)!;
  }

  get(id: string): InstanceRecord | undefined {
    const row = this.stmts.get.get(id);
    return row && fromRow(row);
  }

  getByName(name: string): InstanceRecord | undefined {
    const row = this.stmts.byName.get(name);
    return row && fromRow(row);
  }

  /** Up to `limit` instances whose id starts with `prefix`, oldest first. */
  findByIdPrefix(prefix: string, limit = 2): InstanceRecord[] {
    // GLOB's wildcards match themselves inside brackets.
    const escaped = prefix.replace(/[*?[]/g, (c) => `[${c}]`);
    return this.stmts.byPrefix.all(`${escaped}*`, limit).map(fromRow);
  }

  all(): InstanceRecord[] {
    return this.stmts.all.all().map(fromRow);
  }

  list(filter: InstanceFilter = {}, page: PageRequest = {}): Page<InstanceRecord> {
    const where = ['seq > ?'];
    const params: (string | number)[] = [decodeCursor(page.cursor)];
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    const tags = tagFilterSql('instances', filter.tags);
    where.push(...tags.clauses);
    params.push(...tags.params);
    params.push(fetchSize(page));
    const sql = `SELECT * FROM instances WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    const rows = this.dynamic.get(sql).all(...params) as InstanceRow[];
    return toPage(rows.map(fromRow), page);
  }

  /** Applies `patch`; returns the updated record, or undefined if the instance is gone. */
  update(id: string, patch: InstancePatch): InstanceRecord | undefined {
    this.dynamic.patch('instances', PATCH_COLUMNS, id, patch);
    return this.get(id);
  }

  delete(id: string): boolean {
    return this.stmts.delete.run(id).changes > 0;
  }

  countByImage(image: string): number {
    return this.stmts.countByImage.get(image) ?? 0;
  }
}

function encodeValue(key: keyof InstancePatch, value: unknown): unknown {
  if (key === 'spec' || key === 'tags' || key === 'env') return JSON.stringify(value);
  return value;
}

function toRow(r: NewInstance): Omit<InstanceRow, 'seq'> {
  return {
    id: r.id,
    name: r.name,
    image: r.image,
    hypervisor: r.hypervisor,
    vcpus: r.vcpus,
    memory_bytes: r.memoryBytes,
    env: JSON.stringify(r.env),
    tags: JSON.stringify(r.tags),
    state: r.state,
    state_error: r.stateError,
    pid: r.pid,
    spec: JSON.stringify(r.spec),
    created_at: r.createdAt,
    started_at: r.startedAt,
    stopped_at: r.stoppedAt,
  };
}

function fromRow(row: InstanceRow): InstanceRecord {
  return {
    seq: row.seq,
    id: row.id,
    name: row.name,
    image: row.image,
    hypervisor: row.hypervisor as HypervisorKind,
    vcpus: row.vcpus,
    memoryBytes: row.memory_bytes,
    env: parseStringMap(row.env),
    tags: parseStringMap(row.tags),
    state: row.state as InstanceState,
    stateError: row.state_error,
    pid: row.pid,
    spec: JSON.parse(row.spec) as VmSpec,
    createdAt: row.created_at,
    startedAt: row.started_at,
    stoppedAt: row.stopped_at,
  };
}
