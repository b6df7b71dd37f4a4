/**
 * The contract every hypervisor driver implements. Drivers know nothing about HTTP routes,
 * schedules or the database: they boot a guest from a {@link VmSpec}, pause and resume it,
 * write a snapshot into a directory and restore one into a new process.
 */
import type { Logger } from './logger.js';

export type HypervisorKind = 'qemu' | 'cloud-hypervisor' | 'mock';
export type Accel = 'kvm' | 'tcg';

/** What the VMM says about the guest. `exited` means the VMM process is gone. */
export type PowerState = 'starting' | 'running' | 'paused' | 'shutdown' | 'exited';

export interface DiskSpec {
  /** Device id, stable across snapshot and restore (`disk0`). */
  id: string;
  /** Absolute path of the writable image the guest uses. */
  path: string;
  format: 'raw' | 'qcow2';
  readonly?: boolean;
}

/** Everything needed to rebuild the exact device model of a guest. */
export interface VmSpec {
  vcpus: number;
  memoryMiB: number;
  kernel: string;
  initrd?: string;
  cmdline: string;
  disks: DiskSpec[];
  /** Serial console output is appended to this file (never truncated by a restore). */
  serialLogPath: string;
  /** QEMU: a versioned machine type such as `pc-q35-7.2`; filled in by the driver. */
  machine?: string;
}

/** A file inside a snapshot directory. Paths are relative to that directory. */
export interface SnapshotFile {
  role: 'memory' | 'device-state' | 'config' | 'disk';
  path: string;
  bytes: number;
  /** For `disk` files: the {@link DiskSpec.id} it is a copy of. */
  diskId?: string;
}

/**
 * Written as `manifest.json` into every snapshot directory. Every path in it is relative to the
 * directory, so the directory can be renamed (written under a temporary name, then moved into
 * place) or copied without rewriting it.
 */
export interface SnapshotManifest {
  version: 1;
  hypervisor: HypervisorKind;
  hypervisorVersion: string;
  /** `memory`: memory + device state + disks; `disk-only`: disks of a stopped guest. */
  kind: 'memory' | 'disk-only';
  /** The spec at capture time; its disk paths are those of the live guest, for reference. */
  spec: VmSpec;
  runstateAtSnapshot: 'running' | 'paused' | 'stopped';
  files: SnapshotFile[];
  createdAt: string;
  /** How long the guest was frozen, in milliseconds (0 for a guest that was already paused). */
  pauseMs: number;
  totalMs: number;
  /** Driver-specific facts restore needs (capture method, machine type …). */
  details?: Record<string, unknown>;
}

export interface SnapshotOptions {
  /**
   * `true` (default): copy the guest's disks into the directory, so the snapshot stands alone.
   * `false`: memory and device state only; used for an instance's own standby state, where the
   * VMM exits right after and the live disks are not written again until restore.
   */
  includeDisks?: boolean;
  /** Aborting cancels the capture, removes partial files and returns the guest to its state. */
  signal?: AbortSignal;
}

export interface RestoreRequest {
  /** A directory written by {@link Vm.snapshot} (or assembled from one), with its manifest. */
  snapshotDir: string;
  /**
   * The spec to restore into. Its device model must match the manifest's (a wrong memory size
   * fails with the VMM's own reason); its disk paths point at fresh working copies that the
   * caller prepared, and its serial log path at the new instance's log.
   */
  spec: VmSpec;
  /** Directory for the new VMM's sockets, pid file and logs. */
  runDir: string;
  /** Resume the guest after the restore (default true); `false` leaves it paused. */
  resume?: boolean;
}

export interface StartRequest {
  spec: VmSpec;
  runDir: string;
  /** Create the VM but leave its vCPUs stopped. */
  paused?: boolean;
}

export interface VmExit {
  code: number | null;
  signal: string | null;
  /** The last lines the VMM wrote to stderr, for error messages. */
  stderrTail: string;
}

export type VmEvent =
  | { type: 'state'; state: PowerState; at: number }
  | { type: 'exit'; exit: VmExit; at: number }
  | { type: 'log'; level: 'info' | 'warn'; message: string; at: number };

/** A running (or paused) VMM process, owned by one driver. */
export interface Vm {
  readonly pid: number;
  readonly runDir: string;
  /** Authoritative: asks the VMM, `exited` when the process is gone. */
  status(): Promise<PowerState>;
  /** Idempotent. */
  pause(): Promise<void>;
  /** Idempotent. */
  resume(): Promise<void>;
  /**
   * Writes a snapshot into `dir` (an existing empty directory) including `manifest.json`, and
   * returns the manifest. Leaves the guest in the state it found it (running stays running,
   * paused stays paused). Fails atomically: on error the files it wrote are removed and the
   * guest is returned to its prior state. The live disk paths in the spec stay valid.
   */
  snapshot(dir: string, opts?: SnapshotOptions): Promise<SnapshotManifest>;
  /** Graceful power-off with a deadline, then forced; resolves once the process is gone. */
  shutdown(opts?: { timeoutMs?: number }): Promise<VmExit>;
  /** Kills the process (by pid, escalating signals); resolves once it is gone. */
  kill(): Promise<VmExit>;
  /** Resolves when the VMM process exits, for whatever reason. */
  readonly exited: Promise<VmExit>;
  /** Subscribes to state changes and exit; returns an unsubscribe function. */
  on(listener: (event: VmEvent) => void): () => void;
  /** Drops the control connection without stopping the guest (server shutdown, keep guests). */
  detach(): Promise<void>;
}

export interface HypervisorProbe {
  kind: HypervisorKind;
  available: boolean;
  /** Why it is not available, in words a user can act on. */
  reason?: string;
  version?: string;
  accel?: Accel;
  /** Feature ids: `snapshots`, `standby`, `fork`, `pause`. */
  features: string[];
}

export interface HypervisorDriver {
  readonly kind: HypervisorKind;
  /** Cached after the first call. */
  probe(): Promise<HypervisorProbe>;
  start(req: StartRequest): Promise<Vm>;
  restore(req: RestoreRequest): Promise<Vm>;
  /**
   * Re-attaches to a VMM left running by an earlier server process (pid file + socket in
   * `runDir`). Returns undefined when no live VMM is there.
   */
  attach(runDir: string, spec: VmSpec): Promise<Vm | undefined>;
}

export interface DriverOptions {
  logger: Logger;
}

/**
 * Thrown by {@link Vm.snapshot} when the snapshot is complete and on disk but the guest could not
 * be resumed afterwards. The snapshot is good and must be kept; the guest is left paused and the
 * caller is responsible for retrying the resume.
 */
export class ResumeAfterSnapshotError extends Error {
  constructor(
    readonly manifest: SnapshotManifest,
    options: { cause: unknown },
  ) {
    super(
      `snapshot completed but the guest could not be resumed: ${String(options.cause)}`,
      options,
    );
    this.name = 'ResumeAfterSnapshotError';
  }
}
