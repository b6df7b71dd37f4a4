/** Resuming a paused instance (Paused → Running); also ends a pending resume retry. */
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { type VerbOptions, vmOf, withInstance } from './resolve.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Resumes a paused instance. */
export async function resumeInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'resume', opts, async (instance) => {
    assertTransition('resume', instance);
    const vm = vmOf(ctx, instance);
    await callDriver(
      ctx,
      {
        instance,
        vm,
        action: 'resume',
        advice: `${instance.name} stays Paused; retry the resume, or stop the instance`,
      },
      () => vm.resume(),
    );
    ctx.runtime.pendingResume.delete(instance.id);
    return updateInstance(ctx, instance, { state: 'Running', stateError: null });
  });
}
