/**
 * Errors the Cloud Hypervisor driver throws. Each keeps the VMM's own words (HTTP status and
 * message chain, or the tail of its stderr), because without them a failed restore or snapshot
 * cannot be diagnosed.
 */
import type { VmExit } from '../types.js';

/**
 * A non-2xx answer from the Cloud Hypervisor REST API. CH answers errors with a JSON array of
 * strings (its error chain, outermost first); `messages` holds it, or the raw body when the
 * body was not such an array.
 */
export class CloudHypervisorApiError extends Error {
  readonly code = 'cloud_hypervisor_api';

  constructor(
    /** `PUT /vm.pause` */
    readonly operation: string,
    readonly status: number,
    readonly messages: string[],
  ) {
    const detail = messages.length > 0 ? messages.join(': ') : 'no error body';
    super(`cloud-hypervisor ${operation} failed with HTTP ${status}: ${detail}`);
    this.name = 'CloudHypervisorApiError';
  }
}

/** The VMM did not answer a request within its deadline (a hung VMM, or a huge guest). */
export class CloudHypervisorTimeoutError extends Error {
  readonly code = 'cloud_hypervisor_timeout';

  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`cloud-hypervisor ${operation} got no answer within ${timeoutMs} ms`, options);
    this.name = 'CloudHypervisorTimeoutError';
  }
}

/** The VMM process failed to start, answer, or exited while the driver needed it. */
export class CloudHypervisorProcessError extends Error {
  readonly code = 'cloud_hypervisor_process';

  constructor(
    message: string,
    readonly exit?: VmExit,
    options?: { cause?: unknown },
  ) {
    const tail = exit?.stderrTail.trim();
    super(tail ? `${message}; cloud-hypervisor said: ${tail}` : message, options);
    this.name = 'CloudHypervisorProcessError';
  }
}
