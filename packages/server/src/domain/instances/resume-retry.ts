/**
 * Bringing a guest back after a snapshot whose resume failed. The snapshot is good and kept;
 * the instance is reported Paused with `state_error` until a resume works. A background loop
 * retries with exponential backoff on the injected clock, and any new capture of the instance
 * first tries the resume itself, so no new pause happens while the guest is stuck (BB-26 B).
 */
import type { InstanceRecord } from '../../store/instances-repo.js';
import { ConflictError } from '../errors.js';
import type { DomainContext } from './context.js';
import { instanceKey } from './resolve.js';
import { updateInstance } from './update.js';

/**
 * Records the failed resume and starts the retry loop. Call while holding the instance lock.
 * `after` names what paused the guest, for the message ("a snapshot", "a failed standby").
 */
export function markResumePending(
  ctx: DomainContext,
  instance: InstanceRecord,
  cause: unknown,
  after = 'a snapshot',
): InstanceRecord {
  const message = cause instanceof Error ? cause.message : String(cause);
  const updated = updateInstance(ctx, instance, {
    state: 'Paused',
    stateError: `the guest could not be resumed after ${after} and stays paused until a retry succeeds: ${message}`,
  });
  rearmResumeRetry(ctx, instance.id);
  return updated;
}

/** Restarts the retry loop of an instance reconcile found paused with a failed resume. */
export function rearmResumeRetry(ctx: DomainContext, instanceId: string): void {
  if (ctx.runtime.pendingResume.has(instanceId)) return;
  ctx.runtime.pendingResume.add(instanceId);
  void retryLoop(ctx, instanceId);
}

/**
 * If the instance waits for a resume, tries it now. Call while holding the instance lock.
 * Throws 409 `conflict` if it still fails, so no capture pauses a stuck guest again.
 */
export async function resumeIfPending(
  ctx: DomainContext,
  instance: InstanceRecord,
): Promise<InstanceRecord> {
  if (!ctx.runtime.pendingResume.has(instance.id)) return instance;
  const resumed = await tryResume(ctx, instance);
  if (resumed) return resumed;
  throw new ConflictError(
    `instance ${instance.name} is paused after a failed resume and a retry failed again; try later`,
  );
}

async function retryLoop(ctx: DomainContext, instanceId: string): Promise<void> {
  const { resumeRetryInitialMs, resumeRetryMaxMs } = ctx.settings;
  let delayMs = resumeRetryInitialMs;
  while (ctx.runtime.pendingResume.has(instanceId)) {
    try {
      await ctx.clock.sleep(delayMs, ctx.closing);
    } catch {
      return; // shutting down; reconcile re-arms the retry on the next start
    }
    let done: boolean;
    try {
      done = await ctx.locks.run(
        instanceKey(instanceId),
        async () => {
          // The server may have begun shutting down (and closing the db) while we waited.
          if (ctx.closing.aborted) return true;
          const instance = ctx.repos.instances.get(instanceId);
          if (!instance || !ctx.runtime.pendingResume.has(instanceId)) return true;
          return (await tryResume(ctx, instance)) !== undefined;
        },
        { operation: 'resume retry' },
      );
    } catch (err) {
      if (ctx.closing.aborted) return;
      // Not the resume itself (tryResume records that) but the record around it: keep trying.
      ctx.logger.error({ instanceId, err }, 'resume retry could not run');
      done = false;
    }
    if (done) return;
    delayMs = Math.min(delayMs * 2, resumeRetryMaxMs);
  }
}

/** One resume attempt; the updated record on success, undefined on failure. */
async function tryResume(
  ctx: DomainContext,
  instance: InstanceRecord,
): Promise<InstanceRecord | undefined> {
  const vm = ctx.runtime.get(instance.id);
  if (!vm) {
    ctx.runtime.pendingResume.delete(instance.id);
    return instance;
  }
  try {
    await vm.resume();
  } catch (err) {
    ctx.logger.warn({ instanceId: instance.id, err }, 'resume retry failed');
    updateInstance(ctx, instance, {
      stateError: `the guest could not be resumed after a snapshot and stays paused until a retry succeeds: ${(err as Error).message}`,
    });
    return undefined;
  }
  ctx.runtime.pendingResume.delete(instance.id);
  ctx.logger.info({ instanceId: instance.id }, 'guest resumed after a failed resume');
  return updateInstance(ctx, instance, { state: 'Running', stateError: null });
}
