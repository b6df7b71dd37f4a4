/** How the HTTP schedule world turns the cases' faults into the mock hypervisor's. */
import type { MockDriver } from '@vmkeep/hypervisor';
import type { Fault } from './schedule-fakes.js';

/** The mock's form of a case's fault (the mock fails with a message, not an error object). */
export function toMockFault(fault: Fault) {
  if ('fail' in fault) return { fail: fault.fail.message };
  if ('hang' in fault) return { hang: true as const };
  if (fault.then !== undefined) throw new Error('the mock delays and then succeeds; use fail');
  return { delayMs: fault.delayMs };
}

/** How many snapshots of the VM in `runDir` the driver has begun: the current call's number. */
export function snapshotsBegun(driver: MockDriver, runDir: string): number {
  return driver.calls.entries(runDir).filter((e) => e.kind === 'snapshot-begin').length;
}
