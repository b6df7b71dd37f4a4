/**
 * Finding instances and the things they need: `{id}` in a path may be an id, a name or a unique
 * id prefix (hypeman's resolver); every verb runs under the instance's lock and re-reads the
 * record once it holds it, since the state may have changed while it waited.
 */
import type { HypervisorDriver, Vm } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import { AmbiguousError, InvalidStateError, NotFoundError, NotSupportedError } from '../errors.js';
import type { DomainContext } from './context.js';

/** Options every lifecycle verb accepts. */
export interface VerbOptions {
  /** `false`: fail with 409 `conflict` instead of waiting for another operation to finish. */
  wait?: boolean;
  /** Cancels waiting for the lock (and long steps that support it). */
  signal?: AbortSignal;
}

/** The instance `ref` names: exact id, then exact name, then a unique id prefix. */
export function resolveInstance(ctx: DomainContext, ref: string): InstanceRecord {
  const { instances } = ctx.repos;
  const found = instances.get(ref) ?? instances.getByName(ref);
  if (found) return found;
  const byPrefix = ref === '' ? [] : instances.findByIdPrefix(ref, 2);
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) {
    throw new AmbiguousError(`"${ref}" matches more than one instance id; give more characters`);
  }
  throw new NotFoundError(`instance ${ref} not found`);
}

/** The lock key of an instance. */
export function instanceKey(id: string): string {
  return `instance:${id}`;
}

/**
 * Resolves `ref`, takes the instance's lock, re-reads the record and runs `fn` with it. A 404
 * if the instance was deleted while this waited.
 */
export async function withInstance<T>(
  ctx: DomainContext,
  ref: string,
  operation: string,
  opts: VerbOptions,
  fn: (instance: InstanceRecord) => Promise<T>,
): Promise<T> {
  const first = resolveInstance(ctx, ref);
  return ctx.locks.run(
    instanceKey(first.id),
    async () => {
      const current = ctx.repos.instances.get(first.id);
      if (!current) throw new NotFoundError(`instance ${ref} not found`);
      return fn(current);
    },
    { wait: opts.wait, signal: opts.signal, operation, subject: `instance ${first.name}` },
  );
}

/** The driver for `kind`; 501 when this server has none. */
export function driverFor(ctx: DomainContext, kind: string): HypervisorDriver {
  const driver = ctx.drivers.get(kind as HypervisorDriver['kind']);
  if (!driver) {
    throw new NotSupportedError(`hypervisor ${kind} is not enabled on this server`);
  }
  return driver;
}

/** The live VM of an instance whose record says a VMM runs. */
export function vmOf(ctx: DomainContext, instance: InstanceRecord): Vm {
  const vm = ctx.runtime.get(instance.id);
  if (!vm) {
    throw new InvalidStateError(
      `instance ${instance.name} is ${instance.state} but this server has no connection to its VMM; delete it or restart the server`,
    );
  }
  return vm;
}
