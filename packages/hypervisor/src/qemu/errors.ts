/**
 * Failures of the QEMU driver. `reason` is a closed set the domain maps onto its own error codes;
 * `stderrTail` carries QEMU's own explanation (a failed incoming migration says why only there).
 */
export type QemuFailure =
  /** QEMU exited or never listened on its control socket. */
  | 'start_failed'
  /** The incoming migration failed: device model or RAM size differs, file damaged … */
  | 'restore_failed'
  | 'snapshot_failed'
  /** The guest is in a state that does not allow the operation. */
  | 'invalid_state'
  /** QEMU stopped answering on its control socket. */
  | 'unresponsive';

export class QemuError extends Error {
  constructor(
    readonly reason: QemuFailure,
    message: string,
    readonly stderrTail = '',
    options?: { cause?: unknown },
  ) {
    super(stderrTail ? `${message}: ${stderrTail}` : message, options);
    this.name = 'QemuError';
  }
}
