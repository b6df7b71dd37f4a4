/**
 * What the capture steps share: the guest they work on, what they report, and the disk copy.
 * The steps live in `capture-running.ts` and `capture-paused.ts`; `snapshot.ts` picks one by the
 * guest's run state and writes the manifest.
 */
import { join } from 'node:path';
import { flattenCopy } from '../disk.js';
import type { Logger } from '../logger.js';
import type { QmpClient } from '../qmp/client.js';
import type { SnapshotOptions, VmSpec } from '../types.js';
import type { QemuLaunch } from './args.js';
import { QemuError } from './errors.js';
import { type CaptureMethod, diskFileName } from './manifest.js';
import type { MigrationOutcome } from './migration.js';

export interface CaptureContext {
  qmp: QmpClient;
  pid: number;
  runDir: string;
  spec: VmSpec;
  launch: QemuLaunch;
  qemuVersion: string;
  /** `auto`: background-snapshot when QEMU and the target allow; `stop-copy`: never. */
  method: 'auto' | 'stop-copy';
  logger: Logger;
}

/** What a capture step reports for the manifest. */
export interface Capture {
  method: CaptureMethod;
  pauseMs: number;
  streamBytes: number;
  /**
   * Set when everything was written but the guest this capture stopped would not run again:
   * the snapshot is kept and the caller reports the guest paused.
   */
  resumeError?: unknown;
}

/**
 * Flattened copies of the guest's disks into `dir`, each path recorded in `written` before it
 * is created. The callers guarantee nothing writes to the files meanwhile: they are frozen under
 * an overlay, or the guest is paused.
 */
export async function copyDisks(
  ctx: CaptureContext,
  dir: string,
  opts: SnapshotOptions,
  written: string[],
): Promise<void> {
  if (opts.includeDisks === false) return;
  for (const disk of ctx.spec.disks) {
    const dest = join(dir, diskFileName(disk));
    written.push(dest);
    await flattenCopy(disk.path, dest, {
      srcFormat: disk.format,
      destFormat: disk.format,
      // QEMU holds the file open, so it must be read without taking its lock.
      forceShare: true,
      signal: opts.signal,
    });
  }
}

/** Throws unless the migration completed, with QEMU's error description. */
export function requireCompleted(outcome: MigrationOutcome): void {
  if (outcome.status === 'completed') return;
  const why = outcome.info['error-desc'] ?? outcome.status;
  throw new QemuError('snapshot_failed', `writing the memory snapshot ${outcome.status}: ${why}`);
}

/** Generous: an idle guest's stream writes at >1 GB/s, a busy TCG host may be 20× slower. */
export function migrationTimeoutMs(spec: VmSpec): number {
  return 30_000 + spec.memoryMiB * 50;
}

/** Logs (debug) how long each step of a capture took since the previous one. */
export function stepTimer(logger: Logger): (step: string) => void {
  let last = performance.now();
  return (step) => {
    const now = performance.now();
    logger.debug({ step, ms: Math.round(now - last) }, 'snapshot step');
    last = now;
  };
}
