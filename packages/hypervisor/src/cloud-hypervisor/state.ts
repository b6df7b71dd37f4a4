/**
 * How Cloud Hypervisor's `VmInfo.state` reads in vmkeep's terms. `exited` has no CH state:
 * the driver reports it when the VMM process is gone.
 */
import type { PowerState } from '../types.js';
import type { ChVmState } from './api-client.js';

/**
 * `Created`: configured but not booted (also what CH reports after `vm.shutdown` tore the VM
 * down inside a live VMM). `BreakPoint` is a vCPU stopped by the gdb stub: not running.
 */
export const powerStateOf: Readonly<Record<ChVmState, PowerState>> = {
  Created: 'starting',
  Running: 'running',
  Paused: 'paused',
  Shutdown: 'shutdown',
  BreakPoint: 'paused',
};
