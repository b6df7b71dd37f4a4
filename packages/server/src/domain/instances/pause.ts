/** Pausing an instance: its vCPUs stop, its VMM stays (Running → Paused). */
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { requireFeature } from './hypervisors.js';
import { type VerbOptions, vmOf, withInstance } from './resolve.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Pauses a running instance. */
export async function pauseInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'pause', opts, async (instance) => {
    assertTransition('pause', instance);
    await requireFeature(ctx, instance.hypervisor, 'pause', 'pause a guest');
    const vm = vmOf(ctx, instance);
    await callDriver(
      ctx,
      { instance, vm, action: 'pause', advice: `${instance.name} keeps running; retry the pause` },
      () => vm.pause(),
    );
    return updateInstance(ctx, instance, { state: 'Paused' });
  });
}
