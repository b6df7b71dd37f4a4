import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../domain/errors.js';
import { type Db, openDatabase } from './db.js';
import { encodeCursor } from './list-query.js';
import { type NewSnapshot, SnapshotsRepo } from './snapshots-repo.js';

let db: Db;
let repo: SnapshotsRepo;

function snapshot(id: string, over: Partial<NewSnapshot> = {}): NewSnapshot {
  return {
    id,
    name: id,
    kind: 'Standby',
    status: 'ready',
    error: null,
    tags: {},
    pinned: false,
    sourceInstanceId: 'inst-a',
    sourceInstanceName: 'a',
    sourceHypervisor: 'mock',
    scheduleInstanceId: null,
    scheduleRunId: null,
    sizeBytes: 10,
    downtimeMs: 5,
    createdAt: Date.parse('2025-03-01T00:00:00Z'),
    ...over,
  };
}

beforeEach(() => {
  db = openDatabase(':memory:');
  repo = new SnapshotsRepo(db);
});

afterEach(() => db.close());

describe('SnapshotsRepo', () => {
  it('round-trips a record, times as epoch ms', () => {
    const input = snapshot('s1', { tags: { a: 'b' }, pinned: true, downtimeMs: null });
    expect(repo.insert(input)).toEqual({ ...input, seq: 1 });
  });

  it('enforces unique names per source instance only', () => {
    repo.insert(snapshot('s1', { name: 'n' }));
    expect(() => repo.insert(snapshot('s2', { name: 'n' }))).toThrow(/UNIQUE/);
    expect(() =>
      repo.insert(snapshot('s3', { name: 'n', sourceInstanceId: 'inst-b' })),
    ).not.toThrow();
    repo.insert(snapshot('s4', { name: null }));
    expect(() => repo.insert(snapshot('s5', { name: null }))).not.toThrow();
  });

  it('pages by seq without skips or repeats while rows come and go', () => {
    for (let i = 1; i <= 5; i++) repo.insert(snapshot(`s${i}`));
    const first = repo.list({}, { limit: 2 });
    expect(first.items.map((s) => s.id)).toEqual(['s1', 's2']);
    repo.delete('s2');
    repo.delete('s3');
    repo.insert(snapshot('s6'));
    const second = repo.list({}, { limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((s) => s.id)).toEqual(['s4', 's5']);
    const third = repo.list({}, { limit: 2, cursor: second.nextCursor! });
    expect(third).toEqual({ items: [expect.objectContaining({ id: 's6' })], nextCursor: null });
  });

  it('refuses a cursor it did not write and an out-of-range limit with 400', () => {
    expect(() => repo.list({}, { cursor: 'garbage' })).toThrow(InvalidRequestError);
    expect(() => repo.list({}, { limit: 0 })).toThrow(InvalidRequestError);
    expect(() => repo.list({}, { limit: 1001 })).toThrow(InvalidRequestError);
    expect(repo.list({}, { cursor: encodeCursor(0) }).items).toEqual([]);
  });

  it('matches tags exactly and ANDs them; untagged rows never match', () => {
    repo.insert(snapshot('s1', { tags: { env: 'prod', tier: 'db' } }));
    repo.insert(snapshot('s2', { tags: { env: 'prod' } }));
    repo.insert(snapshot('s3', { tags: { env: 'PROD' } }));
    repo.insert(snapshot('s4'));
    const ids = (tags: Record<string, string>) => repo.list({ tags }).items.map((s) => s.id);
    expect(ids({ env: 'prod' })).toEqual(['s1', 's2']);
    expect(ids({ env: 'prod', tier: 'db' })).toEqual(['s1']);
    expect(ids({ "env' OR 1=1 --": 'x' })).toEqual([]);
  });

  it('lists the snapshots a schedule took, newest first, and nothing else', () => {
    const t0 = Date.parse('2025-03-01T00:00:00Z');
    repo.insert(snapshot('old', { scheduleInstanceId: 'inst-a', createdAt: t0 }));
    repo.insert(snapshot('new', { scheduleInstanceId: 'inst-a', createdAt: t0 + 60_000 }));
    repo.insert(
      snapshot('busy', { scheduleInstanceId: 'inst-a', status: 'creating', createdAt: t0 + 1 }),
    );
    repo.insert(snapshot('manual', { createdAt: t0 + 2 }));
    repo.insert(snapshot('other', { scheduleInstanceId: 'inst-b', createdAt: t0 + 3 }));
    expect(repo.listScheduled('inst-a').map((s) => s.id)).toEqual(['new', 'busy', 'old']);
  });

  it('updates only the fields given', () => {
    repo.insert(snapshot('s1', { status: 'creating', sizeBytes: 0 }));
    const updated = repo.update('s1', { status: 'ready', sizeBytes: 99, pinned: true });
    expect(updated).toMatchObject({ status: 'ready', sizeBytes: 99, pinned: true, name: 's1' });
    expect(repo.update('missing', { pinned: true })).toBeUndefined();
  });
});
