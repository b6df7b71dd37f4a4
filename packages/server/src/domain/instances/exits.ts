/**
 * Watching VMMs exit. A guest that powers itself off, or a VMM that crashes, ends a process the
 * server did not ask to end; the instance becomes Stopped. Exits that an operation causes on
 * purpose (stop, standby, delete) are not reported here: such operations take the VM out of the
 * runtime first, so the watcher sees it is no longer the instance's VM and does nothing.
 */
import type { Vm, VmExit } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { instanceKey } from './resolve.js';
import { updateInstance } from './update.js';

/** Records `vm` as the instance's live VM and starts watching for its exit. */
export function watchVm(ctx: DomainContext, instanceId: string, vm: Vm): void {
  ctx.runtime.set(instanceId, vm);
  void vm.exited.then((exit) => onExit(ctx, instanceId, vm, exit));
}

async function onExit(ctx: DomainContext, instanceId: string, vm: Vm, exit: VmExit) {
  // Wait for any operation in flight: it may be the one that ended the VMM.
  await ctx.locks.run(instanceKey(instanceId), async () => recordExit(ctx, instanceId, vm, exit), {
    operation: 'exit',
  });
}

/**
 * Marks the instance Stopped after `vm` exited unasked, if `vm` is still its live VM; returns
 * the updated record, or undefined when there was nothing to record. Call while holding the
 * instance lock.
 */
export function recordExit(
  ctx: DomainContext,
  instanceId: string,
  vm: Vm,
  exit: VmExit,
): InstanceRecord | undefined {
  if (ctx.runtime.get(instanceId) !== vm) return undefined;
  ctx.runtime.take(instanceId);
  ctx.runtime.pendingResume.delete(instanceId);
  const instance = ctx.repos.instances.get(instanceId);
  if (!instance) return undefined;
  const log = ctx.logger.child({ instanceId, name: instance.name });
  const crash = crashOf(exit);
  if (crash) log.warn({ exit }, 'VMM exited unexpectedly');
  else log.info({ exit }, 'guest powered off');
  return updateInstance(ctx, instance, {
    state: 'Stopped',
    stateError: crash,
    pid: null,
    stoppedAt: ctx.clock.now(),
  });
}

/**
 * What a VMM's exit says went wrong, or null for a guest that powered itself off (status 0).
 * A VMM a restarted server re-attached to is not its child: its status is unknown, and an
 * unknown end is not called a crash.
 */
function crashOf(exit: VmExit): string | null {
  if (exit.code === 0 || (exit.code === null && exit.signal === null)) return null;
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
  const words = exit.stderrTail.trim().split('\n').at(-1)?.trim();
  return `the VMM ${how}${words ? ` (${words})` : ''}; start the instance to boot it again`;
}
