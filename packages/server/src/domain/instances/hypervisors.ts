/** Choosing the hypervisor of a new instance. */
import type { HypervisorDriver, HypervisorKind } from '@vmkeep/hypervisor';
import { InvalidRequestError, NotSupportedError } from '../errors.js';
import type { DomainContext } from './context.js';

/** Every hypervisor kind a request may name. */
export const HYPERVISOR_KINDS: readonly HypervisorKind[] = ['qemu', 'cloud-hypervisor', 'mock'];

/**
 * The requested driver, checked to be registered and available; without a request, the first
 * registered driver that is available.
 */
export async function chooseDriver(
  ctx: DomainContext,
  requested?: string,
): Promise<HypervisorDriver> {
  if (requested !== undefined) {
    if (!HYPERVISOR_KINDS.includes(requested as HypervisorKind)) {
      throw new InvalidRequestError(
        `hypervisor "${requested}" is not known; use ${HYPERVISOR_KINDS.filter((k) => k !== 'mock').join(' or ')}`,
      );
    }
    const driver = ctx.drivers.get(requested as HypervisorKind);
    if (!driver) {
      const hint = requested === 'mock' ? '; start the server with VMKEEP_MOCK_HYPERVISOR=1' : '';
      throw new InvalidRequestError(`hypervisor ${requested} is not enabled on this server${hint}`);
    }
    const probe = await driver.probe();
    if (!probe.available) {
      throw new NotSupportedError(`hypervisor ${requested} is not available: ${probe.reason}`);
    }
    return driver;
  }
  const reasons: string[] = [];
  for (const driver of ctx.drivers.values()) {
    const probe = await driver.probe();
    if (probe.available) return driver;
    reasons.push(`${driver.kind}: ${probe.reason ?? 'unavailable'}`);
  }
  throw new NotSupportedError(
    `no hypervisor is available on this server (${reasons.join('; ') || 'none registered'})`,
  );
}

/**
 * Throws 501 `not_supported` unless the hypervisor `kind` reports `feature` on this host
 * (`snapshots`, `standby`, `pause`, `fork`: the probe's feature ids), so an operation the
 * hypervisor cannot do is refused before it touches the guest.
 */
export async function requireFeature(
  ctx: DomainContext,
  kind: HypervisorKind,
  feature: string,
  action: string,
): Promise<void> {
  const driver = ctx.drivers.get(kind);
  if (!driver) throw new NotSupportedError(`hypervisor ${kind} is not enabled on this server`);
  const probe = await driver.probe();
  if (!probe.features.includes(feature)) {
    throw new NotSupportedError(
      `hypervisor ${kind} cannot ${action} on this host (it lacks the "${feature}" feature)`,
    );
  }
}
