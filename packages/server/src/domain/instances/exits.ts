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
  if (exit.code === 0) log.info({ exit }, 'guest powered off');
  else log.warn({ exit }, 'VMM exited unexpectedly');
  return updateInstance(ctx, instance, {
    state: 'Stopped',
    stateError: null,
    pid: null,
    stoppedAt: ctx.clock.now(),
  });
}
