/**
 * Hypervisor failures as domain errors. Drivers throw their own classes (QEMU's `QemuError`,
 * the QMP client's errors, Cloud Hypervisor's API, timeout and process errors, the mock's
 * faults, a VMM binary that cannot be spawned); the domain answers with a code from the API's
 * closed set and a message that names the instance, repeats what the hypervisor itself said,
 * and says what to do. The driver's error stays as `cause`, for the log.
 *
 * openapi.yaml declares no 502, 503 or 504, so the codes are:
 * - 400 `invalid_request`: the guest could not boot from what the instance is made of (its
 *   image's kernel, initrd or disk; its vcpus or size);
 * - 409 `invalid_state`: the VMM is gone, or the guest is in a state that forbids the step;
 * - 409 `conflict`: the hypervisor refused, failed or did not answer in time, or could not
 *   load a saved state; another attempt or another step may work;
 * - 501 `not_supported`: the hypervisor cannot be run on this host at all.
 * Programming errors (`TypeError` …) are not hypervisor failures and stay a 500.
 */
import {
  CloudHypervisorApiError,
  CloudHypervisorProcessError,
  CloudHypervisorTimeoutError,
  type HypervisorKind,
  MockFaultError,
  QemuError,
  type QemuFailure,
  ResumeAfterSnapshotError,
} from '@vmkeep/hypervisor';
import { DomainError, type ErrorCode } from './errors.js';

/** What went wrong, as far as the domain needs to tell. */
export type HypervisorFailureKind =
  /** The VMM could not boot the guest. */
  | 'boot'
  /** The VMM could not load a saved state (memory file, device model). */
  | 'restore'
  /** The VMM exited, or its control connection closed. */
  | 'gone'
  /** The guest's state forbids the step. */
  | 'state'
  /** The VMM did not answer in time. */
  | 'timeout'
  /** The VMM refused or failed the step. */
  | 'refused'
  /** The VMM binary cannot be run on this host. */
  | 'unavailable';

/** A hypervisor failure: its kind, and the hypervisor's own words. */
export interface ClassifiedFailure {
  kind: HypervisorFailureKind;
  reason: string;
}

/** What the domain asked of the hypervisor when it failed. */
export type HypervisorAction =
  | 'boot'
  | 'restore'
  | 'pause'
  | 'resume'
  | 'snapshot'
  | 'standby'
  | 'stop'
  | 'delete';

/** The words of a message about a failed {@link HypervisorAction}. */
export interface FailureContext {
  hypervisor: HypervisorKind;
  action: HypervisorAction;
  /** What the action was done to: `instance web`, `instance web from snapshot s1`. */
  subject: string;
  /** What the user can do now; replaces the action's default advice. */
  advice?: string;
}

/** A {@link DomainError} made from a hypervisor failure; `cause` is the driver's error. */
export class HypervisorFailureError extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly failure: HypervisorFailureKind,
    details: Record<string, unknown>,
    cause: unknown,
  ) {
    super(code, message, details, { cause });
  }
}

const QEMU_KINDS: Record<QemuFailure, HypervisorFailureKind> = {
  start_failed: 'boot',
  restore_failed: 'restore',
  snapshot_failed: 'refused',
  invalid_state: 'state',
  unresponsive: 'timeout',
};

/** Errors that are bugs of ours, never the hypervisor's doing. */
const BUGS = [TypeError, RangeError, ReferenceError, SyntaxError];

/**
 * The kind and reason of a driver's error; undefined for what is no hypervisor failure (a
 * domain error, a complete snapshot whose resume failed, a bug).
 */
export function classifyFailure(err: unknown): ClassifiedFailure | undefined {
  if (!(err instanceof Error)) return { kind: 'refused', reason: String(err) };
  if (err instanceof DomainError || err instanceof ResumeAfterSnapshotError) return undefined;
  if (BUGS.some((bug) => err instanceof bug)) return undefined;
  if (err instanceof QemuError) {
    // QEMU explains itself only on stderr; the tail is the reason when there is one.
    const reason = err.stderrTail ? lastLines(err.stderrTail) : err.message;
    return { kind: QEMU_KINDS[err.reason] ?? 'refused', reason };
  }
  // The QMP client's errors are not exported by @vmkeep/hypervisor; their names are stable.
  if (err.name === 'QmpError') return { kind: 'refused', reason: qmpDesc(err) };
  if (err.name === 'QmpClosedError') return { kind: 'gone', reason: err.message };
  if (err.name === 'QmpTimeoutError' || err instanceof CloudHypervisorTimeoutError) {
    return { kind: 'timeout', reason: err.message };
  }
  if (err instanceof CloudHypervisorApiError) {
    return { kind: 'refused', reason: err.messages.join(': ') || err.message };
  }
  if (err instanceof CloudHypervisorProcessError) return { kind: 'gone', reason: err.message };
  if (err.name === 'QmpProtocolError' || err instanceof MockFaultError) {
    return { kind: 'refused', reason: err.message };
  }
  if (isSpawnFailure(err)) return { kind: 'unavailable', reason: err.message };
  return { kind: 'refused', reason: err.message };
}

const NAMES: Record<HypervisorKind, string> = {
  qemu: 'QEMU',
  'cloud-hypervisor': 'Cloud Hypervisor',
  mock: 'the mock hypervisor',
};

const DOING: Record<HypervisorAction, string> = {
  boot: 'starting',
  restore: 'restoring',
  pause: 'pausing',
  resume: 'resuming',
  snapshot: 'snapshotting',
  standby: 'saving the state of',
  stop: 'stopping',
  delete: 'deleting',
};

/** The name a message uses for a hypervisor (`QEMU`). */
export function hypervisorName(kind: HypervisorKind): string {
  return NAMES[kind] ?? kind;
}

/**
 * The domain error for a classified failure. Booting and restoring are judged by the action
 * (whatever failed, the guest did not come up); other actions by the failure's kind.
 */
export function toHypervisorError(
  err: unknown,
  failure: ClassifiedFailure,
  context: FailureContext,
): HypervisorFailureError {
  const name = hypervisorName(context.hypervisor);
  const { subject, action } = context;
  const doing = `${DOING[action]} ${subject}`;
  const then = (fallback: string) => `; ${context.advice ?? fallback}`;
  const details = { hypervisor: context.hypervisor, action, failure: failure.kind };
  const make = (code: ErrorCode, message: string) =>
    new HypervisorFailureError(code, message, failure.kind, details, err);

  if (failure.kind === 'unavailable') {
    return make(
      'not_supported',
      `${name} cannot be run on this host (${failure.reason})${then('install it, or point VMKEEP_QEMU_BINARY at it')}`,
    );
  }
  if (action === 'boot') {
    return make(
      'invalid_request',
      `${name} could not start the guest of ${subject}: ${failure.reason}` +
        then("check the image's kernel, initrd and disk, and the instance's vcpus and size"),
    );
  }
  if (action === 'restore') {
    return make(
      'conflict',
      `${name} could not restore ${subject}: ${failure.reason}` +
        then('the saved state does not fit this hypervisor; boot the disks instead'),
    );
  }
  switch (failure.kind) {
    case 'gone':
      return make(
        'invalid_state',
        `the ${name} process went away while ${doing}: ${failure.reason}` +
          then('stop or delete the instance, then start it again'),
      );
    case 'state':
      return make(
        'invalid_state',
        `${name} cannot go on ${doing}: ${failure.reason}${then('retry once it has settled')}`,
      );
    case 'timeout':
      return make(
        'conflict',
        `${name} did not answer in time while ${doing}: ${failure.reason}` +
          then('retry, or stop the instance if it keeps happening'),
      );
    default:
      return make(
        'conflict',
        `${name} failed ${doing}: ${failure.reason}${then('retry, or stop the instance')}`,
      );
  }
}

/** The last few lines of a VMM's stderr, as one line. */
export function lastLines(text: string, count = 4): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return lines.slice(-count).join('; ').slice(-600);
}

/** What QEMU answered a QMP command with (`desc`), else the whole message. */
function qmpDesc(err: Error): string {
  const desc = (err as { desc?: unknown }).desc;
  return typeof desc === 'string' && desc !== '' ? desc : err.message;
}

/** `spawn` could not run the binary at all (missing, not executable). */
function isSpawnFailure(err: Error): boolean {
  const { code, syscall } = err as NodeJS.ErrnoException;
  return (
    typeof syscall === 'string' &&
    syscall.startsWith('spawn') &&
    (code === 'ENOENT' || code === 'EACCES')
  );
}
