/** QEMU run states (`query-status`) as vmkeep's power states. */
import type { PowerState } from '../types.js';

/**
 * `postmigrate` (after a snapshot of a paused guest), `prelaunch` (started with `-S`) and the
 * error states all have stopped vCPUs: to a user the guest is paused.
 */
const TABLE: Record<string, PowerState> = {
  running: 'running',
  paused: 'paused',
  postmigrate: 'paused',
  prelaunch: 'paused',
  suspended: 'paused',
  debug: 'paused',
  'finish-migrate': 'paused',
  'save-vm': 'paused',
  'restore-vm': 'paused',
  'io-error': 'paused',
  'internal-error': 'paused',
  'guest-panicked': 'paused',
  watchdog: 'paused',
  colo: 'paused',
  inmigrate: 'starting',
  shutdown: 'shutdown',
};

export function powerStateOf(qemuStatus: string): PowerState {
  return TABLE[qemuStatus] ?? 'paused';
}
