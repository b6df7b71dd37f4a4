/**
 * The one way the domain calls into a hypervisor: every driver call a verb makes runs through
 * {@link callDriver}, so a driver failure reaches the client as a domain error (see
 * `../hypervisor-errors.ts` for the codes) and never as a bare 500.
 *
 * A call on a live guest whose VMM turns out to have died is told apart from a refusal: the
 * instance is recorded Stopped at once (the exit watcher would do the same, but only after
 * this operation releases the lock, and the client should not see the old state in between)
 * and the answer is 409 `invalid_state` with how the VMM ended and its last words.
 */
import type { Vm, VmExit } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import {
  classifyFailure,
  type HypervisorAction,
  HypervisorFailureError,
  hypervisorName,
  lastLines,
  toHypervisorError,
} from '../hypervisor-errors.js';
import type { DomainContext } from './context.js';
import { recordExit } from './exits.js';

/** One call into a hypervisor on behalf of an instance. */
export interface DriverCall {
  instance: InstanceRecord;
  action: HypervisorAction;
  /** The live VM the call talks to, if any: if it has exited, the instance becomes Stopped. */
  vm?: Vm;
  /** What the action is done to, for the message; default `instance <name>`. */
  subject?: string;
  /** What the user can do now, for the message; default the action's own advice. */
  advice?: string;
  /** A failure after this aborted is the abort, passed on as it is. */
  signal?: AbortSignal;
}

/**
 * Runs `fn` (which calls the driver) and turns its failure into a domain error. Cleanup that
 * must happen whatever the failure belongs inside `fn` or around this call; errors that are
 * not hypervisor failures (domain errors, aborts, bugs) pass through unchanged.
 */
export async function callDriver<T>(
  ctx: DomainContext,
  call: DriverCall,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (call.signal?.aborted) throw err;
    const failure = classifyFailure(err);
    if (!failure) throw err;
    const subject = call.subject ?? `instance ${call.instance.name}`;
    const { vm } = call;
    if (vm && (await hasExited(vm)))
      throw vmmGone(ctx, { ...call, vm }, subject, await vm.exited, err);
    const context = { hypervisor: call.instance.hypervisor, action: call.action, subject };
    throw toHypervisorError(err, failure, { ...context, advice: call.advice });
  }
}

/** True when the VMM behind `vm` is gone; a VMM that cannot even say so counts as alive. */
async function hasExited(vm: Vm): Promise<boolean> {
  return vm.status().then(
    (power) => power === 'exited',
    () => false,
  );
}

/** Records the exit and describes it: 409 `invalid_state`, with the VMM's last words. */
function vmmGone(
  ctx: DomainContext,
  call: DriverCall & { vm: Vm },
  subject: string,
  exit: VmExit,
  cause: unknown,
): HypervisorFailureError {
  const stopped = recordExit(ctx, call.instance.id, call.vm, exit);
  const name = hypervisorName(call.instance.hypervisor);
  const how = exit.signal
    ? `was killed by ${exit.signal}`
    : exit.code !== null
      ? `exited with code ${exit.code}`
      : 'exited';
  const said = exit.stderrTail.trim() ? ` (it said: ${lastLines(exit.stderrTail)})` : '';
  const now = stopped
    ? `; ${call.instance.name} is now Stopped: start it again`
    : '; delete the instance, or start it again once it is Stopped';
  return new HypervisorFailureError(
    'invalid_state',
    `the ${name} process of ${subject} ${how} before ${ACTION_NOUN[call.action]} could finish${said}${now}`,
    'gone',
    {
      hypervisor: call.instance.hypervisor,
      action: call.action,
      failure: 'gone',
      state: stopped?.state ?? call.instance.state,
      exit: { code: exit.code, signal: exit.signal },
    },
    cause,
  );
}

const ACTION_NOUN: Record<HypervisorAction, string> = {
  boot: 'the boot',
  restore: 'the restore',
  pause: 'the pause',
  resume: 'the resume',
  snapshot: 'the snapshot',
  standby: 'the standby',
  stop: 'the stop',
  delete: 'the delete',
};
