/**
 * The mock driver's ordered record of what happened to each VM, with timestamps from the
 * injected clock. Tests read it to prove protocol properties: pause windows never overlap,
 * every pause has one resume (or an intended exit), a stopped instance saw no calls at all.
 */

/** What happened: a call to the driver or VM, or the VMM exiting. */
export type CallKind =
  | 'start'
  | 'restore'
  | 'attach'
  | 'detach'
  | 'pause'
  | 'resume'
  | 'snapshot-begin'
  | 'snapshot-end'
  | 'snapshot-failed'
  | 'shutdown'
  | 'kill'
  | 'exit';

/** One event in the log. */
export interface CallEntry {
  /** Position in the log, across all VMs. */
  seq: number;
  /** Clock time (epoch ms) of the event. */
  at: number;
  /** The VM's run directory. */
  runDir: string;
  kind: CallKind;
  /** Free-form facts (the snapshot dir, a failure message …). */
  detail?: string;
}

/** A span during which a VM's vCPUs were stopped. */
export interface PauseWindow {
  runDir: string;
  pausedAt: number;
  /** When the vCPUs ran again; undefined while still paused or if the VMM exited paused. */
  resumedAt?: number;
  /** How the window closed: a resume, the VMM exiting (standby, stop), or still open. */
  closedBy: 'resume' | 'exit' | 'open';
}

/** Broken protocol rules found in the log. */
export interface ProtocolViolation {
  runDir: string;
  seq: number;
  problem: string;
}

/** The log itself, shared by all VMs of one driver. */
export class CallLog {
  private readonly items: CallEntry[] = [];

  constructor(private readonly now: () => number) {}

  record(runDir: string, kind: CallKind, detail?: string): void {
    const entry: CallEntry = { seq: this.items.length, at: this.now(), runDir, kind };
    if (detail !== undefined) entry.detail = detail;
    this.items.push(entry);
  }

  /** Every entry, oldest first; optionally only those of VMs whose run dir contains `filter`. */
  entries(filter?: string): CallEntry[] {
    if (filter === undefined) return [...this.items];
    return this.items.filter((e) => e.runDir.includes(filter));
  }

  /** The kinds of the entries, in order, for compact assertions. */
  kinds(filter?: string): CallKind[] {
    return this.entries(filter).map((e) => e.kind);
  }

  /** Pause windows of every VM (or those whose run dir contains `filter`), in log order. */
  pauseWindows(filter?: string): PauseWindow[] {
    const open = new Map<string, PauseWindow>();
    const windows: PauseWindow[] = [];
    for (const e of this.entries(filter)) {
      const current = open.get(e.runDir);
      const startsPaused =
        (e.kind === 'start' || e.kind === 'restore' || e.kind === 'attach') &&
        e.detail === 'paused';
      if ((e.kind === 'pause' || startsPaused) && !current) {
        const w: PauseWindow = { runDir: e.runDir, pausedAt: e.at, closedBy: 'open' };
        open.set(e.runDir, w);
        windows.push(w);
      } else if (e.kind === 'resume' && current) {
        current.resumedAt = e.at;
        current.closedBy = 'resume';
        open.delete(e.runDir);
      } else if (e.kind === 'exit' && current) {
        current.closedBy = 'exit';
        open.delete(e.runDir);
      }
    }
    return windows;
  }

  /**
   * Checks the pause protocol per VM: no pause while already paused, no resume without a
   * pause, no snapshot of one VM starting while another of its snapshots is in flight.
   */
  violations(filter?: string): ProtocolViolation[] {
    const paused = new Set<string>();
    const capturing = new Set<string>();
    const found: ProtocolViolation[] = [];
    const flag = (e: CallEntry, problem: string) =>
      found.push({ runDir: e.runDir, seq: e.seq, problem });
    for (const e of this.entries(filter)) {
      switch (e.kind) {
        case 'pause':
          if (paused.has(e.runDir)) flag(e, 'pause while a pause window is open');
          paused.add(e.runDir);
          break;
        case 'resume':
          if (!paused.has(e.runDir)) flag(e, 'resume without a pause');
          paused.delete(e.runDir);
          break;
        case 'start':
        case 'restore':
        case 'attach':
          // A restore that leaves the guest paused opens a window the caller must close.
          if (e.detail === 'paused') paused.add(e.runDir);
          else paused.delete(e.runDir);
          break;
        case 'exit':
          paused.delete(e.runDir);
          capturing.delete(e.runDir);
          break;
        case 'snapshot-begin':
          if (capturing.has(e.runDir)) flag(e, 'snapshot started while another is in flight');
          capturing.add(e.runDir);
          break;
        case 'snapshot-end':
        case 'snapshot-failed':
          capturing.delete(e.runDir);
          break;
        default:
          break;
      }
    }
    return found;
  }
}
