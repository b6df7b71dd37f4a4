/** Pausing an instance: its vCPUs stop, its VMM stays (Running → Paused). */
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
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
    await vmOf(ctx, instance).pause();
    return updateInstance(ctx, instance, { state: 'Paused' });
  });
}
