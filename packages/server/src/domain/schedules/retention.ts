/**
 * Which of a schedule's snapshots to keep: a pure function, so the scheduler, a preview and the
 * tests all ask the same question and get the same answer with a reason per snapshot.
 *
 * The rules, from hypeman's retention plus the guards its review and the cases asked for:
 * - Only snapshots whose server-side provenance names this schedule's instance are candidates;
 *   anything else passed in is kept (manual snapshots are never pruned, BB-15).
 * - Only `ready` snapshots count and only they are deleted: a failed or half-made snapshot
 *   must not use up a `max_count` slot (BB-18, BB-20).
 * - Candidates are ranked newest first by `created_at`, never by name (BB-14).
 * - Deleted: the union of those beyond the `max_count` newest and those created strictly
 *   before `now − max_age` (a snapshot exactly on the cutoff stays, BB-17). A zero turns a
 *   rule off.
 * - Never deleted: a protected id (the snapshot this run created), a pinned snapshot, and the
 *   newest ready one unless the caller lifts that guard.
 * Pinned snapshots sit outside the rotation: they do not use up `max_count` slots either, so
 * pinning an old snapshot never evicts a newer one.
 */
import type { ScheduledSnapshot } from './ports.js';

export interface RetentionPolicy {
  /** Keep at most this many; 0 turns the count rule off. */
  maxCount: number;
  /** Delete what is older than this; 0 turns the age rule off. */
  maxAgeMs: number;
}

export interface RetentionOptions {
  /** The instance whose schedule is pruning; snapshots with other provenance are kept. */
  instanceId: string;
  /** Ids that must survive whatever the rules say: the snapshot this run created. */
  protect?: Iterable<string>;
  /**
   * Keep the newest ready snapshot even if a rule would delete it (default true). The scheduler
   * lifts it only for a deleted instance's schedule: nothing new will ever be taken there, and
   * the user's age policy must be able to run out so the schedule can retire (BB-12).
   */
  keepNewest?: boolean;
}

export interface RetentionDecision {
  id: string;
  name: string | null;
  created_at: string;
  action: 'keep' | 'delete';
  /** The rule that decided, e.g. `max_count`, `max_age`, `pinned`, `within max_count`. */
  reason: string;
}

/**
 * Decides keep or delete for every snapshot given, newest first, at time `nowMs` (the run
 * time: the age cutoff is `nowMs − maxAgeMs`).
 */
export function planRetention(
  snapshots: readonly ScheduledSnapshot[],
  policy: RetentionPolicy,
  nowMs: number,
  options: RetentionOptions,
): RetentionDecision[] {
  const protectedIds = new Set(options.protect ?? []);
  const keepNewest = options.keepNewest ?? true;
  const cutoffMs = nowMs - policy.maxAgeMs;
  const ordered = [...snapshots].sort(newestFirst);
  const newestReady = ordered.find((s) => isCandidate(s, options.instanceId) && isReady(s));

  let rank = 0;
  return ordered.map((snapshot) => {
    const decide = (action: 'keep' | 'delete', reason: string): RetentionDecision => ({
      id: snapshot.id,
      name: snapshot.name,
      created_at: snapshot.created_at,
      action,
      reason,
    });
    if (!isCandidate(snapshot, options.instanceId)) return decide('keep', 'not_this_schedule');
    if (!isReady(snapshot)) return decide('keep', 'not_ready');
    if (snapshot.pinned) return decide('keep', 'pinned');

    // The run's own capture is the newest and takes the first slot; it only ever survives.
    const position = rank++;
    if (protectedIds.has(snapshot.id)) return decide('keep', 'created_this_run');

    const byCount = policy.maxCount > 0 && position >= policy.maxCount;
    const byAge = policy.maxAgeMs > 0 && Date.parse(snapshot.created_at) < cutoffMs;
    if (!byCount && !byAge) return decide('keep', withinReason(policy));
    if (keepNewest && snapshot === newestReady) return decide('keep', 'newest');
    return decide(
      'delete',
      byCount && byAge ? 'max_count and max_age' : byCount ? 'max_count' : 'max_age',
    );
  });
}

function isCandidate(snapshot: ScheduledSnapshot, instanceId: string): boolean {
  return snapshot.schedule?.instance_id === instanceId;
}

function isReady(snapshot: ScheduledSnapshot): boolean {
  return snapshot.status === 'ready';
}

function newestFirst(a: ScheduledSnapshot, b: ScheduledSnapshot): number {
  const byTime = Date.parse(b.created_at) - Date.parse(a.created_at);
  // Ids only break exact ties, so the plan is the same whatever order the list came in.
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function withinReason(policy: RetentionPolicy): string {
  if (policy.maxCount > 0 && policy.maxAgeMs > 0) return 'within max_count and max_age';
  if (policy.maxCount > 0) return 'within max_count';
  if (policy.maxAgeMs > 0) return 'within max_age';
  return 'no_rule';
}
