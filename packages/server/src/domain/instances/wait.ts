/**
 * Waiting for an instance to reach a state (`GET /instances/{id}/wait`), on the injected clock.
 * Returns early when the instance reaches `Unknown`, an error state it will not leave alone.
 */
import { InvalidRequestError, NotFoundError } from '../errors.js';
import type { DomainContext } from './context.js';
import type { DomainEvent } from './events.js';
import { resolveInstance } from './resolve.js';
import { INSTANCE_STATES, type InstanceState } from './state.js';

/** The query of `GET /instances/{id}/wait`. */
export interface WaitInput {
  state: string;
  /** Capped at `settings.waitMaxMs` (5 minutes). */
  timeoutMs?: number;
  /** The client went away: stop waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** hypeman's WaitForStateResponse. */
export interface WaitResult {
  state: InstanceState;
  timed_out: boolean;
  state_error: string | null;
}

/** Resolves when the instance is in `state` (or Unknown), or when the timeout passes. */
export async function waitForState(
  ctx: DomainContext,
  ref: string,
  input: WaitInput,
): Promise<WaitResult> {
  const target = INSTANCE_STATES.find((s) => s === input.state);
  if (input.state === 'Initializing') {
    // In hypeman's set of states, but vmkeep's guests go from Created straight to Running.
    throw new InvalidRequestError(
      'vmkeep never reports state Initializing (a guest goes from Created to Running); wait for Running',
    );
  }
  if (!target) {
    throw new InvalidRequestError(
      `state "${input.state}" is not an instance state; use one of ${INSTANCE_STATES.join(', ')}`,
    );
  }
  const timeoutMs = Math.min(
    Math.max(0, input.timeoutMs ?? ctx.settings.waitDefaultMs),
    ctx.settings.waitMaxMs,
  );
  const { id } = resolveInstance(ctx, ref);
  const done = (state: InstanceState) => state === target || state === 'Unknown';
  const result = (timedOut: boolean): WaitResult => {
    const current = ctx.repos.instances.get(id);
    if (!current) throw new NotFoundError(`instance ${ref} not found`);
    return { state: current.state, timed_out: timedOut, state_error: current.stateError };
  };

  // Subscribe before reading the state, so a change in between is not missed.
  const stop = new AbortController();
  const onAbort = () => stop.abort(input.signal?.reason);
  input.signal?.addEventListener('abort', onAbort, { once: true });
  let unsubscribe = () => {};
  const reached = new Promise<void>((resolve, reject) => {
    unsubscribe = ctx.events.on((event: DomainEvent) => {
      if (event.type === 'instance.state' && event.instanceId === id && done(event.state))
        resolve();
      if (event.type === 'instance.deleted' && event.instanceId === id) {
        reject(new NotFoundError(`instance ${ref} was deleted while waiting`));
      }
    });
  });
  try {
    const first = result(false);
    if (done(first.state)) return first;
    const timedOut = await Promise.race([
      reached.then(() => false),
      ctx.clock.sleep(timeoutMs, stop.signal).then(() => true),
    ]);
    return result(timedOut);
  } finally {
    unsubscribe();
    input.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    reached.catch(() => undefined);
  }
}
