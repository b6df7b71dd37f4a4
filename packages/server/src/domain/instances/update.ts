/** Writing an instance's record, announcing state changes as it goes. */
import type { InstancePatch, InstanceRecord } from '../../store/instances-repo.js';
import { NotFoundError } from '../errors.js';
import type { DomainContext } from './context.js';

/** Applies `patch` to the instance; emits `instance.state` when the state changes. */
export function updateInstance(
  ctx: DomainContext,
  before: InstanceRecord,
  patch: InstancePatch,
): InstanceRecord {
  const after = ctx.repos.instances.update(before.id, patch);
  if (!after) throw new NotFoundError(`instance ${before.name} not found`);
  if (after.state !== before.state || after.stateError !== before.stateError) {
    ctx.logger.info(
      {
        instanceId: after.id,
        state: after.state,
        previous: before.state,
        stateError: after.stateError,
      },
      'instance state changed',
    );
    ctx.events.emit({
      type: 'instance.state',
      instanceId: after.id,
      name: after.name,
      state: after.state,
      previous: before.state,
      stateError: after.stateError,
      at: ctx.clock.now(),
    });
  }
  return after;
}
