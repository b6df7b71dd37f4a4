import { describe, expect, it } from 'vitest';
import {
  buildSnapshotName,
  isValidSnapshotName,
  nameTimestamp,
  snapshotNameCandidates,
} from './naming.js';

const RUN = Date.parse('2026-03-10T02:00:07.412Z');

describe('buildSnapshotName', () => {
  it.each<[string, string | null | undefined, string]>([
    ['uses the prefix and the UTC run time', 'nightly', 'nightly-20260310-020007'],
    ['uses the default prefix when none is set', undefined, 'scheduled-20260310-020007'],
    ['treats an empty prefix as none', '', 'scheduled-20260310-020007'],
    ['accepts a 47-character prefix', 'a'.repeat(47), `${'a'.repeat(47)}-20260310-020007`],
    ['cuts a stored prefix longer than 47', 'b'.repeat(60), `${'b'.repeat(47)}-20260310-020007`],
    ['dash-trims a cut prefix', `${'c'.repeat(46)}-d`, `${'c'.repeat(46)}-20260310-020007`],
    ['falls back to s when nothing of the prefix is left', '---', 's-20260310-020007'],
    ['falls back to s- when the name would be invalid', 'Bad_Prefix', 's-20260310-020007'],
  ])('%s', (_, prefix, want) => {
    const name = buildSnapshotName(prefix, RUN);
    expect(name).toBe(want);
    expect(isValidSnapshotName(name)).toBe(true);
  });

  it('never uses local time', () => {
    // Midnight UTC is the previous evening in any western time zone.
    expect(nameTimestamp(Date.parse('2025-11-02T05:15:00Z'))).toBe('20251102-051500');
    expect(nameTimestamp(Date.parse('2025-03-01T00:00:00.999Z'))).toBe('20250301-000000');
  });
});

describe('snapshotNameCandidates', () => {
  it('tries the plain name first, then numbered suffixes', () => {
    expect(snapshotNameCandidates(null, RUN)).toEqual([
      'scheduled-20260310-020007',
      'scheduled-20260310-020007-2',
      'scheduled-20260310-020007-3',
      'scheduled-20260310-020007-4',
      'scheduled-20260310-020007-5',
    ]);
  });

  it('shortens a long prefix so suffixed names stay valid and at most 63 characters', () => {
    const names = snapshotNameCandidates('e'.repeat(47), RUN);
    expect(names[0]).toHaveLength(63);
    expect(names[1]).toBe(`${'e'.repeat(45)}-20260310-020007-2`);
    for (const name of names) expect(isValidSnapshotName(name)).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });
});
