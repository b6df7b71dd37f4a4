/**
 * Deleting an instance, in any state: its VMM is killed and its directory removed. Its
 * snapshots are kept (they live apart and outlive it), and so is its schedule.
 */
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { type VerbOptions, withInstance } from './resolve.js';
import { VMM_STATES } from './state.js';

/** Deletes an instance in any state; see the module doc. */
export async function deleteInstance(
  ctx: DomainContext,
  ref: string,
  opts: VerbOptions = {},
): Promise<void> {
  await withInstance(ctx, ref, 'delete', opts, async (instance) => {
    const log = ctx.logger.child({ instanceId: instance.id, name: instance.name });

    // 1. End the VMM. One this server lost track of (an attach that failed at start) is
    //    looked for once more, so no guest keeps running without a record.
    ctx.runtime.pendingResume.delete(instance.id);
    let vm = ctx.runtime.take(instance.id);
    //    A hypervisor this server no longer enables cannot be asked; delete goes on anyway,
    //    since refusing would leave a record nothing can remove.
    const driver = ctx.drivers.get(instance.hypervisor);
    if (!vm && driver && (VMM_STATES.includes(instance.state) || instance.state === 'Unknown')) {
      vm = await driver.attach(ctx.paths.runDir(instance.id), instance.spec).catch(() => undefined);
    }
    if (vm) {
      const live = vm;
      await callDriver(
        ctx,
        { instance, action: 'delete', advice: 'the instance is kept; retry the delete' },
        () => live.kill(),
      );
    }

    // 2. Hide the directory, drop the record, then remove the files. A crash in between
    //    leaves only a `.del-` directory, which reconcile removes.
    const trash = ctx.paths.instanceTrash(instance.id);
    await ctx.fs.rename(ctx.paths.instance(instance.id), trash).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
    ctx.repos.instances.delete(instance.id);
    ctx.events.emit({
      type: 'instance.deleted',
      instanceId: instance.id,
      name: instance.name,
      at: ctx.clock.now(),
    });
    await ctx.fs.removeDir(trash).catch((err: unknown) => {
      log.warn({ err, path: trash }, 'could not remove the deleted instance files; reconcile will');
    });
    log.info({}, 'instance deleted');
  });
}
