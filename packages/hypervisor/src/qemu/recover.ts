/**
 * Undoing what a capture cut short leaves in QEMU. When the server dies mid-snapshot the guest
 * keeps running in its own process with whatever the capture had set up: an overlay on each
 * writable disk (the guest now writes into `<runDir>/<disk>.overlay.qcow2`), a migration still
 * writing memory, a commit job half done, and, in stop-copy mode, vCPUs stopped. Left alone,
 * the next capture's `blockdev-snapshot-sync` fails because the disk already has an overlay.
 *
 * Run on attach (with `resume`) and before every capture (without it, as a safety net for a
 * merge that failed earlier in the same process).
 */
import { access, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { commitOverlay, type Overlay, overlayFor } from './block.js';
import { type CaptureContext, migrationTimeoutMs } from './capture.js';
import { dropPausedStream } from './capture-paused.js';
import { QemuError } from './errors.js';
import { settledStatus, waitForHelpers, waitForMigration } from './migration.js';

export type RecoveryTarget = Pick<CaptureContext, 'qmp' | 'pid' | 'runDir' | 'spec' | 'logger'>;

/** What was found and undone; empty lists and no migration when QEMU was clean. */
export interface Recovered {
  /** The leftover migration's status, and how it ended (`active → cancelled`). */
  migration?: string;
  /** Block job ids completed or cancelled. */
  jobs: string[];
  /** Disk ids whose overlay was merged back. */
  overlays: string[];
  /** True when the guest was resumed because a capture of a running guest had stopped it. */
  resumed: boolean;
}

interface BlockNode {
  'node-name': string;
  drv: string;
  file: string;
}

interface BlockJob {
  device: string;
  type: string;
  ready: boolean;
}

/** `query-migrate` statuses of a migration still under way. */
const UNDER_WAY = new Set([
  'setup',
  'active',
  'pre-switchover',
  'device',
  'wait-unplug',
  'cancelling',
]);
const JOB_TIMEOUT_MS = 120_000;

/**
 * 1. Note the overlays: one proves a capture of a *running* guest was cut (only that path makes
 *    them), so the guest may be resumed; without one a stopped guest is the user's to resume.
 * 2. Let a leftover migration end by itself. Its `cat` helper outlived the server and writes to
 *    a local file, so it finishes at disk speed; cancelling is worse: a cancelled
 *    background-snapshot wedges QEMU under TCG (see `capture-running.ts`), and `migrate_cancel`
 *    while the helper is slow to drain its pipe stops QEMU's main loop, QMP included.
 * 3. With `resume`, run a guest the capture stopped. Before merging: a completed stop-copy
 *    migration leaves the disks inactive (`postmigrate`), and only `cont` reactivates them.
 * 4. Finish our own commit jobs (they are the merge), cancel any other block job.
 * 5. Merge the overlays still there, and remove overlay files no node uses.
 *
 * Every step runs even when an earlier one failed; the first failure is thrown at the end.
 */
export async function recoverLeftovers(
  target: RecoveryTarget,
  opts: { resume: boolean },
): Promise<Recovered> {
  const { qmp, logger } = target;
  const recovered: Recovered = { jobs: [], overlays: [], resumed: false };
  const failures: unknown[] = [];
  const attempt = (step: string) => (error: unknown) => {
    logger.error({ err: error, step }, 'recovery step failed');
    failures.push(error);
  };

  // 1.
  const cutRunningCapture = (await leftoverOverlays(target)).length > 0;

  // 2.
  await settleMigration(target).then((m) => {
    recovered.migration = m;
  }, attempt('migration'));

  // 3.
  if (opts.resume && cutRunningCapture) {
    await resumeStopped(target).then((r) => {
      recovered.resumed = r;
    }, attempt('resume'));
  }

  // 4.
  await settleBlockJobs(target).then((jobs) => {
    recovered.jobs = jobs;
  }, attempt('block jobs'));

  // 5.
  for (const overlay of await leftoverOverlays(target)) {
    await commitOverlay(qmp, overlay, logger).then(
      () => {
        recovered.overlays.push(overlay.disk.id);
      },
      attempt(`merge ${overlay.disk.id}`),
    );
  }
  await removeStrayOverlayFiles(target);

  if (recovered.migration || recovered.jobs.length || recovered.overlays.length) {
    logger.info(recovered, 'recovered from an interrupted snapshot');
  }
  if (failures.length > 0) {
    throw new QemuError(
      'snapshot_failed',
      `a snapshot cut short earlier left QEMU in a state that could not be undone: ${messageOf(failures[0])}`,
      '',
      { cause: failures[0] },
    );
  }
  return recovered;
}

/**
 * Overlays on the guest's writable disks: the node `freezeDisk` names, or any format node
 * opened on the overlay's file.
 */
async function leftoverOverlays(target: RecoveryTarget): Promise<Overlay[]> {
  const nodes = await target.qmp.execute<BlockNode[]>('query-named-block-nodes', { flat: true });
  const found: Overlay[] = [];
  for (const disk of target.spec.disks.filter((d) => !d.readonly)) {
    const expected = overlayFor(disk, target.runDir);
    const node = nodes.find(
      (n) => n['node-name'] === expected.node || (n.file === expected.path && n.drv !== 'file'),
    );
    if (node) found.push({ ...expected, node: node['node-name'] });
  }
  return found;
}

async function settleMigration(target: RecoveryTarget): Promise<string | undefined> {
  const { qmp } = target;
  const since = qmp.mark();
  const { status } = await qmp.execute<{ status: string }>('query-migrate');
  if (!UNDER_WAY.has(status)) return undefined;
  const outcome = await waitForMigration(qmp, {
    since,
    timeoutMs: migrationTimeoutMs(target.spec),
  });
  await waitForHelpers(target.pid, 30_000);
  return `${status} → ${outcome.status}`;
}

async function resumeStopped(target: RecoveryTarget): Promise<boolean> {
  const status = await settledStatus(target.qmp);
  if (status !== 'paused' && status !== 'postmigrate') return false;
  await target.qmp.execute('cont');
  await dropPausedStream(target.runDir);
  return true;
}

/** Drives every block job to its end and returns their ids. */
async function settleBlockJobs(target: RecoveryTarget): Promise<string[]> {
  const { qmp } = target;
  const ours = new Set(target.spec.disks.map((d) => `commit-${d.id}`));
  const jobs = await qmp.execute<BlockJob[]>('query-block-jobs');
  for (const job of jobs) {
    if (!ours.has(job.device)) {
      await qmp.execute('block-job-cancel', { device: job.device, force: true });
    }
  }
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  const completing = new Set<string>();
  for (;;) {
    const left = await qmp.execute<BlockJob[]>('query-block-jobs');
    const waiting = left.filter((j) => jobs.some((o) => o.device === j.device));
    if (waiting.length === 0) break;
    for (const job of waiting) {
      // An active-layer commit reports ready once in sync and then waits to be told to pivot.
      if (ours.has(job.device) && job.ready && !completing.has(job.device)) {
        completing.add(job.device);
        await qmp.execute('job-complete', { id: job.device });
      }
    }
    if (Date.now() >= deadline) {
      const ids = waiting.map((j) => j.device).join(', ');
      throw new Error(`block jobs ${ids} still running after ${JOB_TIMEOUT_MS} ms`);
    }
    await sleep(20);
  }
  return jobs.map((j) => j.device);
}

/** An overlay file no node uses: its merge finished but the server died before removing it. */
async function removeStrayOverlayFiles(target: RecoveryTarget): Promise<void> {
  const inUse = new Set((await leftoverOverlays(target)).map((o) => o.path));
  for (const disk of target.spec.disks.filter((d) => !d.readonly)) {
    const { path } = overlayFor(disk, target.runDir);
    if (inUse.has(path)) continue;
    const present = await access(path).then(
      () => true,
      () => false,
    );
    if (!present) continue;
    await rm(path, { force: true });
    target.logger.info({ disk: disk.id, path }, 'removed a stray snapshot overlay file');
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
