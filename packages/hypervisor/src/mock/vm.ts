/**
 * One mock "VMM": no process (pid 0), the same state machine and snapshot contract as the real
 * drivers, a state file in its run directory standing in for the live process, and helpers
 * that let a test play the guest (print a tick, power off, crash).
 */
import { copyFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type PowerState,
  ResumeAfterSnapshotError,
  type SnapshotFile,
  type SnapshotManifest,
  type SnapshotOptions,
  type Vm,
  type VmEvent,
  type VmExit,
  type VmSpec,
} from '../types.js';
import type { CallKind, CallLog } from './call-log.js';
import { type FaultInjector, MockFaultError, type MockOp } from './faults.js';
import {
  encodeMemory,
  MEMORY_FILE,
  type MockGuestState,
  removeStateFile,
  writeStateFile,
} from './payload.js';
import { appendSerial } from './serial.js';

/** The clock the mock reads and sleeps on; the server's `Clock` and tests' fake clock fit. */
export interface MockClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What a VM needs from the driver that owns it. */
export interface MockHost {
  clock: MockClock;
  calls: CallLog;
  faults: FaultInjector;
  version: string;
  forget(vm: MockVm): void;
}

/** Default graceful-shutdown deadline when the caller gives none. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** A mock VMM; the driver makes these, tests play the guest through them. */
export class MockVm implements Vm {
  readonly pid = 0;
  readonly exited: Promise<VmExit>;
  private power: PowerState;
  private detached = false;
  private readonly listeners = new Set<(event: VmEvent) => void>();
  private resolveExit!: (exit: VmExit) => void;

  constructor(
    private readonly host: MockHost,
    readonly runDir: string,
    readonly spec: VmSpec,
    private readonly guest: MockGuestState,
    initial: 'running' | 'paused',
  ) {
    this.power = initial;
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  /** The guest's boot id and tick counter, for assertions. */
  get guestState(): Readonly<MockGuestState> {
    return { ...this.guest };
  }

  get isDetached(): boolean {
    return this.detached;
  }

  async status(): Promise<PowerState> {
    return this.power;
  }

  async pause(): Promise<void> {
    this.assertControllable();
    if (this.power === 'paused') return;
    await this.applyFault('pause');
    await this.setPower('paused', 'pause');
  }

  async resume(): Promise<void> {
    this.assertControllable();
    if (this.power === 'running') return;
    await this.applyFault('resume');
    await this.setPower('running', 'resume');
  }

  async snapshot(dir: string, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
    this.assertControllable();
    const startedAt = this.host.clock.now();
    const wasRunning = this.power === 'running';
    const runstate = wasRunning ? 'running' : 'paused';
    this.record('snapshot-begin', dir);
    const files: SnapshotFile[] = [];
    let pausedAt: number | undefined;

    // 1. Freeze the guest (a paused guest is captured as it is and stays paused).
    // 2. Write memory, then the disks, while it is frozen, so both come from one instant.
    try {
      if (wasRunning) {
        await this.applyFault('pause');
        await this.setPower('paused', 'pause');
        pausedAt = this.host.clock.now();
      }
      await this.applyFault('snapshot', opts.signal);
      opts.signal?.throwIfAborted();
      const memory = encodeMemory(this.guest, this.spec);
      await writeFile(join(dir, MEMORY_FILE), memory);
      files.push({ role: 'memory', path: MEMORY_FILE, bytes: memory.length });
      if (opts.includeDisks !== false) {
        for (const disk of this.spec.disks) {
          opts.signal?.throwIfAborted();
          const name = `${disk.id}.${disk.format}`;
          await copyFile(disk.path, join(dir, name));
          const { size } = await stat(join(dir, name));
          files.push({ role: 'disk', path: name, bytes: size, diskId: disk.id });
        }
      }
    } catch (err) {
      await this.undoCapture(dir, files, err, wasRunning);
      throw err;
    }

    // 3. Thaw the guest. A failed resume does not spoil the snapshot: it is complete.
    let resumeError: unknown;
    if (wasRunning) {
      try {
        await this.applyFault('resume');
        await this.setPower('running', 'resume');
      } catch (err) {
        resumeError = err;
      }
    }
    const finishedAt = this.host.clock.now();
    const manifest: SnapshotManifest = {
      version: 1,
      hypervisor: 'mock',
      hypervisorVersion: this.host.version,
      kind: 'memory',
      spec: this.spec,
      runstateAtSnapshot: runstate,
      files,
      createdAt: new Date(finishedAt).toISOString(),
      pauseMs: pausedAt === undefined ? 0 : finishedAt - pausedAt,
      totalMs: finishedAt - startedAt,
      details: { bootId: this.guest.bootId },
    };
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    this.record('snapshot-end', dir);
    if (resumeError !== undefined) {
      throw new ResumeAfterSnapshotError(manifest, { cause: resumeError });
    }
    return manifest;
  }

  async shutdown(opts: { timeoutMs?: number } = {}): Promise<VmExit> {
    this.assertControllable();
    this.record('shutdown');
    const fault = this.host.faults.take({ op: 'shutdown', runDir: this.runDir });
    if (fault && 'fail' in fault) throw new MockFaultError('shutdown', fault.fail);
    if (fault && 'delayMs' in fault) await this.host.clock.sleep(fault.delayMs);
    // A paused guest cannot see the power button, and a hung one ignores it: the graceful
    // request times out and the VMM is killed, as the real drivers do.
    if ((fault && 'hang' in fault) || this.power === 'paused') {
      await this.host.clock.sleep(opts.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
      return this.exit({ code: null, signal: 'SIGKILL', stderrTail: '' });
    }
    await appendSerial(this.spec.serialLogPath, 'mock guest: power button pressed, powering off');
    return this.exit({ code: 0, signal: null, stderrTail: '' });
  }

  async kill(): Promise<VmExit> {
    if (this.power === 'exited') return this.exited;
    this.record('kill');
    return this.exit({ code: null, signal: 'SIGKILL', stderrTail: '' });
  }

  on(listener: (event: VmEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async detach(): Promise<void> {
    if (this.detached) return;
    this.detached = true;
    this.record('detach');
    this.host.forget(this);
  }

  /** Plays the guest: prints `tick N boot_id=…` on the serial console (only while running). */
  async tick(): Promise<number> {
    if (this.power !== 'running') throw new Error(`mock guest cannot tick while ${this.power}`);
    this.guest.ticks += 1;
    await appendSerial(
      this.spec.serialLogPath,
      `tick ${this.guest.ticks} boot_id=${this.guest.bootId}`,
    );
    await this.persist();
    return this.guest.ticks;
  }

  /** Plays the guest powering itself off: the VMM exits with status 0. */
  async powerOff(): Promise<VmExit> {
    await appendSerial(this.spec.serialLogPath, 'mock guest: poweroff');
    return this.exit({ code: 0, signal: null, stderrTail: '' });
  }

  /** Plays a VMM crash: it exits with status 1 and a message on stderr. */
  async crash(message = 'mock VMM crashed'): Promise<VmExit> {
    return this.exit({ code: 1, signal: null, stderrTail: message });
  }

  /** Writes the state file that lets a later driver re-attach. */
  async persist(): Promise<void> {
    if (this.power === 'exited') return;
    await writeStateFile(this.runDir, {
      version: 1,
      state: this.power === 'paused' ? 'paused' : 'running',
      spec: this.spec,
      ...this.guest,
    });
  }

  private async undoCapture(
    dir: string,
    files: SnapshotFile[],
    cause: unknown,
    wasRunning: boolean,
  ): Promise<void> {
    for (const file of files) await rm(join(dir, file.path), { force: true });
    this.record('snapshot-failed', String(cause));
    if (!wasRunning || this.power !== 'paused') return;
    try {
      await this.applyFault('resume');
      await this.setPower('running', 'resume');
    } catch (resumeError) {
      throw new Error(
        `${String(cause)}; additionally the guest could not be resumed: ${String(resumeError)}`,
        { cause },
      );
    }
  }

  private async applyFault(op: MockOp, signal?: AbortSignal): Promise<void> {
    const fault = this.host.faults.take({ op, runDir: this.runDir });
    if (!fault) return;
    if ('fail' in fault) throw new MockFaultError(op, fault.fail);
    if ('delayMs' in fault) return this.host.clock.sleep(fault.delayMs, signal);
    await waitForAbort(signal, this.host.faults.releaseSignal);
  }

  private async setPower(power: PowerState, kind: CallKind): Promise<void> {
    this.power = power;
    this.record(kind);
    this.emit({ type: 'state', state: power, at: this.host.clock.now() });
    await this.persist();
  }

  private async exit(exit: VmExit): Promise<VmExit> {
    if (this.power === 'exited') return this.exited;
    this.power = 'exited';
    await removeStateFile(this.runDir);
    this.record('exit', exit.signal ?? String(exit.code));
    this.host.forget(this);
    const at = this.host.clock.now();
    this.emit({ type: 'state', state: 'exited', at });
    this.emit({ type: 'exit', exit, at });
    this.resolveExit(exit);
    return exit;
  }

  private emit(event: VmEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private record(kind: CallKind, detail?: string): void {
    this.host.calls.record(this.runDir, kind, detail);
  }

  private assertControllable(): void {
    if (this.detached) throw new Error(`mock VM in ${this.runDir} is detached`);
    if (this.power === 'exited') throw new Error(`mock VM in ${this.runDir} has exited`);
  }
}

/** Never resolves; rejects when any of the signals aborts (a hang ends only that way). */
export function waitForAbort(...signals: (AbortSignal | undefined)[]): Promise<never> {
  return new Promise((_, reject) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    const aborted = live.find((s) => s.aborted);
    if (aborted) return reject(aborted.reason);
    const onAbort = (event: Event) => {
      for (const s of live) s.removeEventListener('abort', onAbort);
      reject((event.target as AbortSignal).reason);
    };
    for (const s of live) s.addEventListener('abort', onAbort);
  });
}
