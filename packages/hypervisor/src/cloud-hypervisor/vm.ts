/**
 * One Cloud Hypervisor VMM process and the guest inside it, as a {@link Vm}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { VmmProcess } from '../process/vmm-process.js';
import type {
  PowerState,
  SnapshotManifest,
  SnapshotOptions,
  Vm,
  VmEvent,
  VmExit,
  VmSpec,
} from '../types.js';
import type { CloudHypervisorApi } from './api-client.js';
import type { SerialRelay } from './serial-relay.js';
import { captureSnapshot } from './snapshot.js';
import { powerStateOf } from './state.js';

export interface CloudHypervisorVmParts {
  vmm: VmmProcess;
  api: CloudHypervisorApi;
  /** `version` from `vmm.ping`, recorded in snapshot manifests. */
  version: string;
  runDir: string;
  spec: VmSpec;
  /** Absent for a VMM adopted from an earlier server process: its relay ends by itself. */
  serialRelay?: SerialRelay;
  logger: Logger;
  now: () => Date;
}

/** After `vmm.shutdown`, how long (at most) the process gets to exit before it is signalled. */
const vmmShutdownGraceMs = 2000;
const defaultShutdownTimeoutMs = 10_000;

/**
 * Calls that change the guest's state are serialised per VM, so a scheduled snapshot cannot
 * interleave its pause/resume with a user's pause.
 */
export class CloudHypervisorVm implements Vm {
  readonly pid: number;
  readonly runDir: string;
  readonly exited: Promise<VmExit>;
  readonly #parts: CloudHypervisorVmParts;
  readonly #listeners = new Set<(event: VmEvent) => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #detached = false;

  constructor(parts: CloudHypervisorVmParts) {
    this.#parts = parts;
    this.pid = parts.vmm.pid;
    this.runDir = parts.runDir;
    this.exited = parts.vmm.exited.then(async (exit) => {
      this.#emit({ type: 'exit', exit, at: Date.now() });
      try {
        await parts.serialRelay?.stop();
        await parts.api.close();
      } catch (err) {
        parts.logger.warn({ err }, 'cleanup after the VMM exited failed');
      }
      return exit;
    });
  }

  async status(): Promise<PowerState> {
    if (this.#parts.vmm.hasExited) return 'exited';
    try {
      const { state } = await this.#parts.api.info();
      return powerStateOf[state];
    } catch (err) {
      // The VMM may have died between the check and the call.
      if (this.#parts.vmm.hasExited) return 'exited';
      throw err;
    }
  }

  pause(): Promise<void> {
    return this.#serialised(async () => {
      const { state } = await this.#parts.api.info();
      if (state === 'Paused') return;
      await this.#parts.api.pause();
      this.#emit({ type: 'state', state: 'paused', at: Date.now() });
    });
  }

  /** A VM started with `paused: true` is only created; resuming it boots it. */
  resume(): Promise<void> {
    return this.#serialised(async () => {
      const { state } = await this.#parts.api.info();
      if (state === 'Running') return;
      if (state === 'Created') await this.#parts.api.boot();
      else await this.#parts.api.resume();
      this.#emit({ type: 'state', state: 'running', at: Date.now() });
    });
  }

  snapshot(dir: string, opts?: SnapshotOptions): Promise<SnapshotManifest> {
    return this.#serialised(() => {
      const { api, spec, version, now } = this.#parts;
      const logger = this.#parts.logger.child({ op: 'snapshot' });
      const onState = (state: PowerState) => this.#emit({ type: 'state', state, at: Date.now() });
      return captureSnapshot(
        { api, spec, hypervisorVersion: version, logger, now, onState },
        dir,
        opts,
      );
    });
  }

  /**
   * 1. ACPI power button: an ACPI-aware guest powers off and CH exits with it.
   * 2. `vmm.shutdown` if the guest ignored the button (no acpid, or paused) within the deadline.
   * 3. Signals, for a VMM that does not answer at all.
   */
  async shutdown(opts: { timeoutMs?: number } = {}): Promise<VmExit> {
    const { vmm, api, logger } = this.#parts;
    if (vmm.hasExited) return this.exited;
    const timeoutMs = opts.timeoutMs ?? defaultShutdownTimeoutMs;

    try {
      await api.powerButton(AbortSignal.timeout(timeoutMs));
      if (await this.#exitsWithin(timeoutMs)) return this.exited;
      logger.info({ timeoutMs }, 'guest ignored the power button; shutting the VMM down');
    } catch (err) {
      logger.debug({ err }, 'power button not delivered; shutting the VMM down');
    }

    const graceMs = Math.min(timeoutMs, vmmShutdownGraceMs);
    try {
      await api.shutdownVmm(AbortSignal.timeout(graceMs));
      if (await this.#exitsWithin(graceMs)) return this.exited;
    } catch (err) {
      logger.debug({ err }, 'vmm.shutdown not delivered; signalling the VMM');
    }

    logger.warn({ pid: this.pid }, 'VMM did not exit on request; killing it');
    await vmm.kill();
    return this.exited;
  }

  async kill(): Promise<VmExit> {
    await this.#parts.vmm.kill();
    return this.exited;
  }

  on(listener: (event: VmEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the API connections; the VMM keeps running and `attach` can find it again. */
  async detach(): Promise<void> {
    this.#detached = true;
    this.#listeners.clear();
    this.#parts.vmm.dispose();
    await this.#parts.api.close();
  }

  async #exitsWithin(ms: number): Promise<boolean> {
    // The timer is cancelled once the race is decided, so it cannot hold the event loop open.
    const timer = new AbortController();
    const timeout = sleep(ms, false, { signal: timer.signal }).catch(() => false);
    const exited = await Promise.race([this.exited.then(() => true), timeout]);
    timer.abort();
    return exited;
  }

  #serialised<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#detached) return Promise.reject(new Error('this VM handle was detached'));
    const result = this.#queue.then(operation);
    // The next call waits for this one to settle, whatever its outcome.
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #emit(event: VmEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#parts.logger.warn({ err, event: event.type }, 'a VM event listener threw');
      }
    }
  }
}
