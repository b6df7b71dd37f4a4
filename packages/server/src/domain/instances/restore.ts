/**
 * Restoring an instance from standby: a new VMM loads the saved memory state and the guest
 * continues where it stopped, without a reboot (Standby → Running).
 */
import { mkdir } from 'node:fs/promises';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { watchVm } from './exits.js';
import { driverFor, type VerbOptions, withInstance } from './resolve.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Restores a Standby instance to Running. */
export async function restoreInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'restore', opts, async (instance) => {
    assertTransition('restore', instance);
    return resumeFromStandby(ctx, instance);
  });
}

/**
 * Starts a VMM from the instance's `standby/` state and drops that state once the guest runs.
 * If the restore fails the state is kept and the instance stays in Standby.
 */
export async function resumeFromStandby(
  ctx: DomainContext,
  instance: InstanceRecord,
): Promise<InstanceRecord> {
  const driver = driverFor(ctx, instance.hypervisor);
  const runDir = ctx.paths.runDir(instance.id);
  await mkdir(runDir, { recursive: true });
  const vm = await callDriver(
    ctx,
    {
      instance,
      action: 'restore',
      subject: `instance ${instance.name} from its standby state`,
      advice: `the state is kept and ${instance.name} stays in Standby; restore one of its snapshots, or delete it`,
    },
    () =>
      driver.restore({
        snapshotDir: ctx.paths.standbyDir(instance.id),
        spec: instance.spec,
        runDir,
        resume: true,
      }),
  );
  watchVm(ctx, instance.id, vm);
  const running = updateInstance(ctx, instance, {
    state: 'Running',
    stateError: null,
    pid: vm.pid,
    startedAt: ctx.clock.now(),
    stoppedAt: null,
  });
  // The guest runs from the restored memory now; the saved state is stale from here on.
  await ctx.fs.removeDir(ctx.paths.standbyDir(instance.id)).catch((err: unknown) => {
    ctx.logger.warn({ instanceId: instance.id, err }, 'could not remove used standby state');
  });
  return running;
}
