/**
 * Instance states and what each lifecycle verb may do from which state, as tables. Every verb
 * checks its table entry before touching a guest, so a wrong state is always a 409
 * `invalid_state` that names the current state and the ones the verb needs.
 *
 * Deviations from hypeman, on purpose: `stop` also takes a Paused guest, and `standby` takes a
 * Paused one (hypeman: Running only) — a guest left paused by a failed resume must not be
 * stuck. In-place snapshot restore uses an allow-list (Stopped, Standby), per hypeman PR #125's
 * review.
 */
import { InvalidRequestError, InvalidStateError } from '../errors.js';

/** Every instance state (hypeman's set; vmkeep never reports `Initializing`). */
export const INSTANCE_STATES = [
  'Created',
  'Running',
  'Paused',
  'Shutdown',
  'Stopped',
  'Standby',
  'Unknown',
] as const;
/** One of {@link INSTANCE_STATES}. */
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** States in which a VMM process exists for the instance. */
export const VMM_STATES: readonly InstanceState[] = ['Created', 'Running', 'Paused', 'Shutdown'];

/** The verbs whose allowed source states {@link TRANSITIONS} lists. */
export type LifecycleVerb =
  | 'start'
  | 'stop'
  | 'pause'
  | 'resume'
  | 'standby'
  | 'restore'
  | 'restore_snapshot';

/** Where each verb may start from, and where it leaves the instance. */
export const TRANSITIONS: Record<
  LifecycleVerb,
  { from: readonly InstanceState[]; to: InstanceState | 'target_state' }
> = {
  start: { from: ['Stopped'], to: 'Running' },
  stop: { from: ['Running', 'Paused'], to: 'Stopped' },
  pause: { from: ['Running'], to: 'Paused' },
  resume: { from: ['Paused'], to: 'Running' },
  standby: { from: ['Running', 'Paused'], to: 'Standby' },
  restore: { from: ['Standby'], to: 'Running' },
  restore_snapshot: { from: ['Stopped', 'Standby'], to: 'target_state' },
};

/** Throws 409 `invalid_state` unless `verb` may run on an instance in `state`. */
export function assertTransition(
  verb: LifecycleVerb,
  instance: { name: string; state: InstanceState },
): void {
  const allowed = TRANSITIONS[verb].from;
  if (allowed.includes(instance.state)) return;
  const hint = NEXT_STEP[instance.state];
  throw new InvalidStateError(
    `cannot ${verb.replace('_', ' ')} instance ${instance.name} in state ${instance.state}; ` +
      `${verb} requires ${listStates(allowed)}${hint ? `; ${hint}` : ''}`,
    { state: instance.state, allowed },
  );
}

/** What brings an instance in these states back, for refusals of the verbs that cannot. */
const NEXT_STEP: Partial<Record<InstanceState, string>> = {
  Standby: 'a Standby instance comes back with restore (POST /instances/{id}/restore)',
  Unknown: 'its VMM cannot be reached: delete the instance',
};

/** The two snapshot kinds (hypeman's). */
export const SNAPSHOT_KINDS = ['Standby', 'Stopped'] as const;
/** One of {@link SNAPSHOT_KINDS}. */
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

/**
 * Which source states each snapshot kind captures. Standby = memory + disks (a Paused guest is
 * captured and left paused: BB-25 policy A); Stopped = disks only.
 */
export const SNAPSHOT_SOURCES: Record<SnapshotKind, readonly InstanceState[]> = {
  Standby: ['Running', 'Paused', 'Standby'],
  Stopped: ['Stopped'],
};

/** The kind a snapshot gets when the request names none, or undefined if none fits. */
export function defaultSnapshotKind(state: InstanceState): SnapshotKind | undefined {
  return SNAPSHOT_KINDS.find((kind) => SNAPSHOT_SOURCES[kind].includes(state));
}

/** Throws 409 with hypeman's message form unless a `kind` snapshot may be taken in `state`. */
export function assertSnapshotSource(kind: SnapshotKind, state: InstanceState): void {
  if (SNAPSHOT_SOURCES[kind].includes(state)) return;
  throw new InvalidStateError(
    `${kind.toLowerCase()} snapshot requires source in ${listStates(SNAPSHOT_SOURCES[kind])}, got ${state}`,
    { state, kind },
  );
}

/** States a restore or fork may leave an instance in. */
export const TARGET_STATES = ['Running', 'Standby', 'Stopped'] as const;
/** One of {@link TARGET_STATES}. */
export type TargetState = (typeof TARGET_STATES)[number];

/** States a restore or fork of each snapshot kind may end in; the first is the default. */
export const RESTORE_TARGETS: Record<SnapshotKind, readonly TargetState[]> = {
  Standby: ['Running', 'Standby', 'Stopped'],
  Stopped: ['Stopped', 'Running'],
};

/** The target state of a restore or fork: the request's, checked, or the kind's default. */
export function resolveTargetState(kind: SnapshotKind, requested?: string): TargetState {
  const allowed = RESTORE_TARGETS[kind];
  if (requested === undefined) return allowed[0]!;
  const target = allowed.find((s) => s === requested);
  if (!target) {
    throw new InvalidRequestError(
      `target_state ${requested} is not possible for a ${kind} snapshot; use ${listStates(allowed)}`,
    );
  }
  return target;
}

function listStates(states: readonly string[]): string {
  if (states.length <= 1) return states.join('');
  return `${states.slice(0, -1).join(', ')} or ${states[states.length - 1]}`;
}
