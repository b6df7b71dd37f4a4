/**
 * SQL whose shape is known only at run time (a patch of some columns, a filtered list),
 * prepared once per distinct text and reused, as the repos' fixed statements are.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** How a patch's keys map to a table's columns and values. */
export interface PatchColumns<P> {
  /** The column each patch key writes. */
  names: Record<keyof P, string>;
  /** The value stored for a key (JSON text, 0/1 for booleans…). */
  encode(key: keyof P, value: unknown): unknown;
}

export class DynamicStatements {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Db) {}

  /** The prepared statement for `sql`, prepared on first use. */
  get(sql: string): Database.Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }

  /** Writes the keys present in `patch` to the row `id` of `table`; no keys, no write. */
  patch<P extends object>(table: string, columns: PatchColumns<P>, id: string, patch: P): void {
    const keys = Object.keys(patch) as (keyof P & string)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${columns.names[k]} = @${k}`).join(', ');
    const values: Record<string, unknown> = { id };
    for (const k of keys) values[k] = columns.encode(k, patch[k]);
    this.get(`UPDATE ${table} SET ${sets} WHERE id = @id`).run(values);
  }
}
