/** Starting a stopped instance: a cold boot from its disks (Stopped → Running). */
import { mkdir } from 'node:fs/promises';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { watchVm } from './exits.js';
import { driverFor, type VerbOptions, withInstance } from './resolve.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Boots a stopped instance from its disks. */
export async function startInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'start', opts, async (instance) => {
    assertTransition('start', instance);
    const driver = driverFor(ctx, instance.hypervisor);
    const runDir = ctx.paths.runDir(instance.id);
    await mkdir(runDir, { recursive: true });
    const vm = await callDriver(
      ctx,
      {
        instance,
        action: 'boot',
        advice: `${instance.name} stays Stopped; check the kernel, initrd and disk of image ${instance.image}, or delete the instance`,
      },
      () => driver.start({ spec: instance.spec, runDir }),
    );
    watchVm(ctx, instance.id, vm);
    return updateInstance(ctx, instance, {
      state: 'Running',
      stateError: null,
      pid: vm.pid,
      startedAt: ctx.clock.now(),
      stoppedAt: null,
    });
  });
}
