/**
 * Putting an instance in standby: its memory state is saved into `standby/` and its VMM exits
 * (Running or Paused → Standby). The disks stay where they are; nothing writes them until the
 * instance is restored.
 */
import { mkdir } from 'node:fs/promises';
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { requireFeature } from './hypervisors.js';
import { type VerbOptions, vmOf, withInstance } from './resolve.js';
import { markResumePending } from './resume-retry.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Saves a running or paused instance's memory and ends its VMM. */
export async function standbyInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'standby', opts, async (instance) => {
    assertTransition('standby', instance);
    await requireFeature(ctx, instance.hypervisor, 'standby', 'put a guest in standby');
    const vm = vmOf(ctx, instance);
    const log = ctx.logger.child({ instanceId: instance.id, name: instance.name });
    const tmp = ctx.paths.standbyTmp(instance.id);
    await ctx.fs.removeDir(tmp);
    await mkdir(tmp, { recursive: true });

    // 1. Pause first: the guest must not run (and write its disks) between the memory save
    //    and the VMM's exit, or memory and disks would disagree on restore.
    // 2. Save memory and device state only; the live disks are the standby disks. On failure
    //    the partial state goes and a guest that was running runs again.
    const wasRunning = instance.state === 'Running';
    const call = { instance, vm, action: 'standby' as const, signal: opts.signal };
    // callDriver reads `advice` once the call has failed, so the catch below can correct it.
    const saving = { ...call, advice: 'no state was saved; retry the standby' };
    await callDriver(ctx, saving, async () => {
      try {
        if (wasRunning) await vm.pause();
        await vm.snapshot(tmp, { includeDisks: false, signal: opts.signal });
      } catch (err) {
        await ctx.fs.removeDir(tmp).catch((rmErr: unknown) => {
          log.warn({ err: rmErr, path: tmp }, 'could not remove partial standby state');
        });
        if (wasRunning) {
          await vm.resume().catch((resumeErr: unknown) => {
            markResumePending(ctx, instance, resumeErr, 'a failed standby');
            saving.advice =
              'no state was saved, and the guest is left paused: resuming it failed too and ' +
              'is retried; retry the standby once it runs';
          });
        }
        throw err;
      }
    });

    // 3. Put the state in place before ending the VMM: a crash in between leaves a live,
    //    paused VMM (reconcile re-attaches it) rather than a guest with its memory lost.
    await ctx.fs.removeDir(ctx.paths.standbyDir(instance.id));
    await ctx.fs.rename(tmp, ctx.paths.standbyDir(instance.id));
    ctx.runtime.take(instance.id);
    ctx.runtime.pendingResume.delete(instance.id);
    await callDriver(
      ctx,
      { ...call, vm: undefined, advice: 'its state is saved; delete the instance to end its VMM' },
      () => vm.kill(),
    );

    log.info({}, 'instance in standby');
    return updateInstance(ctx, instance, { state: 'Standby', stateError: null, pid: null });
  });
}
