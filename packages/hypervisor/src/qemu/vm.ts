/**
 * A guest running in one QEMU process, driven over its single QMP connection. Operations that
 * change the guest's state run one at a time, so a scheduled snapshot cannot interleave with a
 * user's pause or another snapshot.
 */
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { VmmProcess } from '../process/vmm-process.js';
import type { QmpClient } from '../qmp/client.js';
import { QmpClosedError } from '../qmp/errors.js';
import type { QmpEvent } from '../qmp/types.js';
import type {
  PowerState,
  SnapshotManifest,
  SnapshotOptions,
  Vm,
  VmEvent,
  VmExit,
  VmSpec,
} from '../types.js';
import type { QemuLaunch } from './args.js';
import { dropPausedStream } from './capture-paused.js';
import { QemuError } from './errors.js';
import { settledStatus } from './migration.js';
import { powerStateOf } from './runstate.js';
import { captureSnapshot } from './snapshot.js';

export interface QemuVmParts {
  vmm: VmmProcess;
  qmp: QmpClient;
  spec: VmSpec;
  launch: QemuLaunch;
  qemuVersion: string;
  snapshotMethod: 'auto' | 'stop-copy';
  logger: Logger;
}

const STATE_EVENTS: Record<string, PowerState> = {
  STOP: 'paused',
  RESUME: 'running',
  SHUTDOWN: 'shutdown',
};
const WARN_EVENTS = new Set(['GUEST_PANICKED', 'BLOCK_IO_ERROR', 'BLOCK_JOB_ERROR', 'RESET']);

export class QemuVm implements Vm {
  readonly exited: Promise<VmExit>;
  #parts: QemuVmParts;
  #listeners = new Set<(event: VmEvent) => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #detached = false;
  /** A capture stops and resumes the guest on purpose; listeners should not see that flicker. */
  #capturing = false;

  constructor(parts: QemuVmParts) {
    this.#parts = parts;
    parts.qmp.onEvent((event) => this.#onQmpEvent(event));
    this.exited = parts.vmm.exited.then(async (exit) => {
      await parts.qmp.close();
      await dropPausedStream(parts.vmm.runDir);
      await removeSocket(parts.launch.qmpSocket, parts.vmm.runDir);
      this.#emit({ type: 'state', state: 'exited', at: Date.now() });
      this.#emit({ type: 'exit', exit, at: Date.now() });
      return exit;
    });
  }

  get pid(): number {
    return this.#parts.vmm.pid;
  }

  get runDir(): string {
    return this.#parts.vmm.runDir;
  }

  /** The QMP connection, for diagnostics and tests (the commands sent are recorded on it). */
  get qmp(): QmpClient {
    return this.#parts.qmp;
  }

  get spec(): VmSpec {
    return this.#parts.spec;
  }

  get launch(): QemuLaunch {
    return this.#parts.launch;
  }

  async status(): Promise<PowerState> {
    this.#requireAttached();
    if (this.#parts.vmm.hasExited) return 'exited';
    try {
      const { status } = await this.#parts.qmp.execute<{ status: string }>('query-status');
      return powerStateOf(status);
    } catch (error) {
      // The socket closes as QEMU exits; give the exit a moment to be observed.
      if (error instanceof QmpClosedError && (await this.#exitsWithin(2000))) return 'exited';
      throw error;
    }
  }

  pause(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#parts.qmp.execute('stop');
    });
  }

  resume(): Promise<void> {
    return this.#exclusive(async () => {
      const status = await settledStatus(this.#parts.qmp);
      if (status === 'running') return;
      if (status === 'inmigrate') {
        // `cont` here only arms autostart for the incoming migration; it resumes nothing.
        throw new QemuError('invalid_state', 'the guest is still being restored');
      }
      await this.#parts.qmp.execute('cont');
    });
  }

  snapshot(dir: string, opts?: SnapshotOptions): Promise<SnapshotManifest> {
    const { qmp, vmm, spec, launch, qemuVersion, snapshotMethod, logger } = this.#parts;
    const context = { qmp, pid: vmm.pid, runDir: vmm.runDir, spec, launch, qemuVersion, logger };
    return this.#exclusive(async () => {
      this.#capturing = true;
      try {
        return await captureSnapshot({ ...context, method: snapshotMethod }, resolve(dir), opts);
      } finally {
        this.#capturing = false;
      }
    });
  }

  /**
   * ACPI power button, then `quit`, then signals. Not queued behind other operations: a
   * shutdown must still work when a snapshot hangs.
   */
  async shutdown(opts: { timeoutMs?: number } = {}): Promise<VmExit> {
    this.#requireAttached();
    const { qmp, vmm, logger } = this.#parts;
    if (vmm.hasExited) return this.exited;
    await qmp.execute('system_powerdown').catch((e) => logger.debug({ err: e }, 'powerdown'));
    if (await this.#exitsWithin(opts.timeoutMs ?? 10_000)) return this.exited;
    logger.warn({ pid: vmm.pid }, 'guest ignored the power button, quitting QEMU');
    await qmp.execute('quit').catch((e) => logger.debug({ err: e }, 'quit'));
    if (await this.#exitsWithin(3000)) return this.exited;
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

  /** Closes QMP and stops watching; QEMU and the guest keep running for a later `attach`. */
  async detach(): Promise<void> {
    this.#detached = true;
    this.#parts.vmm.dispose();
    await this.#parts.qmp.close();
  }

  #onQmpEvent(event: QmpEvent): void {
    const at = Date.now();
    const state = STATE_EVENTS[event.event];
    if (event.event === 'RESUME') void dropPausedStream(this.runDir);
    const flicker = this.#capturing && (state === 'paused' || state === 'running');
    if (state && !flicker) this.#emit({ type: 'state', state, at });
    if (WARN_EVENTS.has(event.event)) {
      const message = `${event.event} ${JSON.stringify(event.data ?? {})}`;
      this.#emit({ type: 'log', level: 'warn', message, at });
    }
  }

  #emit(event: VmEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#parts.logger.warn({ err: error }, 'vm event listener threw');
      }
    }
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    this.#requireAttached();
    const run = this.#queue.then(operation, operation);
    this.#queue = run.catch(() => {});
    return run;
  }

  #requireAttached(): void {
    if (this.#detached) throw new QemuError('invalid_state', 'this handle was detached');
  }

  async #exitsWithin(ms: number): Promise<boolean> {
    const timeout = new AbortController();
    const exited = this.exited.then(() => true);
    const timer = sleep(ms, false, { signal: timeout.signal }).catch(() => false);
    const result = await Promise.race([exited, timer]);
    timeout.abort();
    return result;
  }
}

/** The socket file, and its private /tmp directory when it had to live outside the run dir. */
async function removeSocket(socket: string, runDir: string): Promise<void> {
  const dir = dirname(socket);
  const own = dir !== resolve(runDir) && /^\/tmp\/vmkeep-[0-9a-f]{16}$/.test(dir);
  await rm(own ? dir : socket, { recursive: true, force: true });
}
