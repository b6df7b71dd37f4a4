/**
 * Stopping an instance: a graceful power-off with a deadline, then a forced one
 * (Running or Paused → Stopped).
 */
import type { InstanceRecord } from '../../store/instances-repo.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { type VerbOptions, vmOf, withInstance } from './resolve.js';
import { assertTransition } from './state.js';
import { updateInstance } from './update.js';

/** Options of {@link stopInstance}. */
export interface StopOptions extends VerbOptions {
  /** How long the guest gets to power off before its VMM is killed. */
  timeoutMs?: number;
}

/** Powers an instance off: gracefully within the timeout, else by force. */
export async function stopInstance(
  ctx: DomainContext,
  ref: string,
  opts: StopOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, ref, 'stop', opts, async (instance) => {
    assertTransition('stop', instance);
    const vm = vmOf(ctx, instance);
    const log = ctx.logger.child({ instanceId: instance.id, name: instance.name });

    // 1. Take the VM out of the runtime first: this exit is intended, not a crash.
    ctx.runtime.take(instance.id);
    ctx.runtime.pendingResume.delete(instance.id);

    // 2. A paused guest cannot see the power button: let it run to receive it.
    let graceful = true;
    if (instance.state === 'Paused') {
      graceful = await vm.resume().then(
        () => true,
        (err: unknown) => {
          log.warn({ err }, 'could not resume the guest to power it off; killing its VMM');
          return false;
        },
      );
    }

    // 3. Power off with a deadline (the driver forces it after), or kill outright.
    const timeoutMs = opts.timeoutMs ?? ctx.settings.stopTimeoutMs;
    const exit = await callDriver(
      ctx,
      { instance, action: 'stop', advice: 'delete the instance to end its VMM' },
      async () =>
        graceful
          ? await vm.shutdown({ timeoutMs }).catch((err: unknown) => {
              log.warn({ err }, 'graceful shutdown failed; killing the VMM');
              return vm.kill();
            })
          : await vm.kill(),
    );
    log.info({ exit }, 'instance stopped');
    return updateInstance(ctx, instance, {
      state: 'Stopped',
      stateError: null,
      pid: null,
      stoppedAt: ctx.clock.now(),
    });
  });
}
