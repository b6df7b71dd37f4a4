import { describe, expect, it } from 'vitest';
import type { ScheduledSnapshot } from './ports.js';
import { planRetention, type RetentionOptions, type RetentionPolicy } from './retention.js';

const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;

/** A scheduled snapshot of inst_A created `minutes` after t0, ready, unpinned. */
function snap(id: string, minutes: number, extra: Partial<ScheduledSnapshot> = {}) {
  return {
    id,
    name: `scheduled-${id}`,
    created_at: new Date(T0 + minutes * MIN).toISOString(),
    status: 'ready',
    pinned: false,
    schedule: { instance_id: 'inst_A' },
    ...extra,
  } satisfies ScheduledSnapshot;
}

interface Row {
  name: string;
  snapshots: ScheduledSnapshot[];
  policy: RetentionPolicy;
  nowMinutes: number;
  options?: Partial<RetentionOptions>;
  /** id → "keep:<reason>" | "delete:<reason>", newest first. */
  want: Record<string, string>;
}

const rows: Row[] = [
  {
    name: 'deletes what is beyond the max_count newest (hypeman retention test)',
    snapshots: [snap('s1', 1), snap('s2', 1 + 1 / 60), snap('new', 3)],
    policy: { maxCount: 2, maxAgeMs: 0 },
    nowMinutes: 3,
    options: { protect: ['new'] },
    want: { new: 'keep:created_this_run', s2: 'keep:within max_count', s1: 'delete:max_count' },
  },
  {
    name: 'keeps a snapshot exactly on the max_age cutoff and deletes older ones (BB-17)',
    snapshots: [1, 2, 3, 4, 5, 6].map((m) => snap(`m${m}`, m)),
    policy: { maxCount: 0, maxAgeMs: 3 * MIN },
    nowMinutes: 6,
    options: { protect: ['m6'] },
    want: {
      m6: 'keep:created_this_run',
      m5: 'keep:within max_age',
      m4: 'keep:within max_age',
      m3: 'keep:within max_age',
      m2: 'delete:max_age',
      m1: 'delete:max_age',
    },
  },
  {
    name: 'deletes the union of the count and age rules (BB-20 inst_A)',
    snapshots: [1, 2, 3, 4, 5].map((m) => snap(`m${m}`, m)),
    policy: { maxCount: 4, maxAgeMs: 150_000 },
    nowMinutes: 5,
    options: { protect: ['m5'] },
    want: {
      m5: 'keep:created_this_run',
      m4: 'keep:within max_count and max_age',
      m3: 'keep:within max_count and max_age',
      m2: 'delete:max_age',
      m1: 'delete:max_count and max_age',
    },
  },
  {
    name: 'ranks by created_at, never by name (BB-14)',
    snapshots: [
      snap('zz1', 1, { name: 'zz-nightly-20250301-000100' }),
      snap('zz2', 2, { name: 'zz-nightly-20250301-000200' }),
      snap('zz3', 3, { name: 'zz-nightly-20250301-000300' }),
      snap('aa4', 4.5, { name: 'aa-nightly-20250301-000430' }),
      snap('aa5', 5.5, { name: 'aa-nightly-20250301-000530' }),
    ],
    policy: { maxCount: 3, maxAgeMs: 0 },
    nowMinutes: 5.5,
    options: { protect: ['aa5'] },
    want: {
      aa5: 'keep:created_this_run',
      aa4: 'keep:within max_count',
      zz3: 'keep:within max_count',
      zz2: 'delete:max_count',
      zz1: 'delete:max_count',
    },
  },
  {
    name: 'keeps manual snapshots and other instances’ snapshots out of the count (BB-15, BB-20 inst_C)',
    snapshots: [
      snap('M1', 0.5, { schedule: null }),
      snap('M2', 1.5, { schedule: null }),
      snap('B1', 0.1, { schedule: { instance_id: 'inst_B' } }),
      snap('s1', 1),
      snap('s2', 2),
      snap('s3', 3),
    ],
    policy: { maxCount: 2, maxAgeMs: 0 },
    nowMinutes: 3,
    options: { protect: ['s3'] },
    want: {
      s3: 'keep:created_this_run',
      s2: 'keep:within max_count',
      M2: 'keep:not_this_schedule',
      s1: 'delete:max_count',
      M1: 'keep:not_this_schedule',
      B1: 'keep:not_this_schedule',
    },
  },
  {
    name: 'never counts or deletes failed and creating snapshots (BB-18)',
    snapshots: [
      snap('s1', 1),
      snap('s2', 2),
      snap('f3', 3, { status: 'failed' }),
      snap('f4', 4, { status: 'failed' }),
      snap('c5', 5, { status: 'creating' }),
    ],
    policy: { maxCount: 2, maxAgeMs: 0 },
    nowMinutes: 5,
    want: {
      c5: 'keep:not_ready',
      f4: 'keep:not_ready',
      f3: 'keep:not_ready',
      s2: 'keep:within max_count',
      s1: 'keep:within max_count',
    },
  },
  {
    name: 'keeps pinned snapshots without letting them use up count slots',
    snapshots: [snap('s1', 1, { pinned: true }), snap('s2', 2), snap('s3', 3), snap('s4', 4)],
    policy: { maxCount: 2, maxAgeMs: MIN },
    nowMinutes: 4,
    options: { protect: ['s4'] },
    want: {
      s4: 'keep:created_this_run',
      s3: 'keep:within max_count and max_age',
      s2: 'delete:max_count and max_age',
      s1: 'keep:pinned',
    },
  },
  {
    name: 'never deletes the snapshot this run created, even past the age cutoff',
    snapshots: [snap('old', 0), snap('mine', 1)],
    policy: { maxCount: 0, maxAgeMs: MIN },
    nowMinutes: 10,
    options: { protect: ['mine'] },
    want: { mine: 'keep:created_this_run', old: 'delete:max_age' },
  },
  {
    name: 'keeps the newest ready snapshot when every one has aged out',
    snapshots: [snap('s1', 1), snap('s2', 2), snap('f3', 3, { status: 'failed' })],
    policy: { maxCount: 0, maxAgeMs: MIN },
    nowMinutes: 30,
    want: { f3: 'keep:not_ready', s2: 'keep:newest', s1: 'delete:max_age' },
  },
  {
    name: 'lets age retention run out when the newest guard is lifted (deleted instance)',
    snapshots: [snap('s1', 1), snap('s2', 2)],
    policy: { maxCount: 0, maxAgeMs: MIN },
    nowMinutes: 30,
    options: { keepNewest: false },
    want: { s2: 'delete:max_age', s1: 'delete:max_age' },
  },
  {
    name: 'keeps everything when both rules are off',
    snapshots: [snap('s1', 1), snap('s2', 2)],
    policy: { maxCount: 0, maxAgeMs: 0 },
    nowMinutes: 600,
    want: { s2: 'keep:no_rule', s1: 'keep:no_rule' },
  },
];

describe('planRetention', () => {
  it.each(rows)('$name', ({ snapshots, policy, nowMinutes, options, want }) => {
    const plan = planRetention(snapshots, policy, T0 + nowMinutes * MIN, {
      instanceId: 'inst_A',
      ...options,
    });
    const got = Object.fromEntries(plan.map((d) => [d.id, `${d.action}:${d.reason}`]));
    expect(got).toEqual(want);
    expect(plan.map((d) => d.id)).toEqual(Object.keys(want));
  });

  it('gives the same plan whatever order the snapshots arrive in', () => {
    const snapshots = [1, 2, 3, 4, 5].map((m) => snap(`m${m}`, m));
    const policy = { maxCount: 2, maxAgeMs: 0 };
    const forward = planRetention(snapshots, policy, T0, { instanceId: 'inst_A' });
    const backward = planRetention([...snapshots].reverse(), policy, T0, { instanceId: 'inst_A' });
    expect(backward).toEqual(forward);
  });

  it('does not modify the list it is given', () => {
    const snapshots = [snap('s2', 2), snap('s1', 1)];
    const copy = structuredClone(snapshots);
    planRetention(snapshots, { maxCount: 1, maxAgeMs: 0 }, T0, { instanceId: 'inst_A' });
    expect(snapshots).toEqual(copy);
  });
});
