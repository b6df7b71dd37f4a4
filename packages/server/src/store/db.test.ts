import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './db.js';
import { migrations } from './migrations.js';

describe('openDatabase', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the schema at the latest version in WAL mode with foreign keys on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmkeep-db-'));
    dirs.push(dir);
    const db = openDatabase(join(dir, 'nested', 'vmkeep.db'));
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    expect(tables).toEqual(
      expect.arrayContaining([
        'images',
        'instances',
        'schedule_runs',
        'snapshot_schedules',
        'snapshots',
      ]),
    );
    db.close();
  });

  it('reopens an existing database without re-running migrations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmkeep-db-'));
    dirs.push(dir);
    const path = join(dir, 'vmkeep.db');
    const first = openDatabase(path);
    first.prepare("INSERT INTO images VALUES ('default', '/k', NULL, NULL, '', 1, 0)").run();
    first.close();
    const second = openDatabase(path);
    expect(second.prepare('SELECT count(*) FROM images').pluck().get()).toBe(1);
    second.close();
  });

  it('refuses a database written by a newer vmkeep', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmkeep-db-'));
    dirs.push(dir);
    const path = join(dir, 'vmkeep.db');
    const db = openDatabase(path);
    db.pragma(`user_version = ${migrations.length + 1}`);
    db.close();
    expect(() => openDatabase(path)).toThrow(/newer than this vmkeep/);
  });
});
