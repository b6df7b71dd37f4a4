/**
 * Startup reconciliation: make the records and the data dir agree again after a crash, before
 * the server takes requests. Records win over stray files, except that a snapshot record is
 * only kept if its payload is complete.
 *
 * 1. Snapshots: `creating` (and `failed`) records are removed with their partial payload; a
 *    deletion cut short is finished; a `ready` record whose payload is gone is removed.
 * 2. Stray directories: `.tmp-*` and `.del-*` everywhere, and snapshot or instance directories
 *    without a record, are removed.
 * 3. Instances whose record says a VMM runs are re-attached (`driver.attach`); if none is
 *    alive they become Standby when their standby state is complete, else Stopped. If the
 *    attach itself fails, the VMM may still run: the instance becomes Unknown (delete only). One still
 *    `Created` without a VMM is a create or fork the crash cut short: it is removed, as a
 *    failed create would have been.
 */
import { join } from 'node:path';
import type { Vm } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../store/instances-repo.js';
import type { DomainContext } from './instances/context.js';
import { watchVm } from './instances/exits.js';
import { exists, listDir } from './instances/files.js';
import { rearmResumeRetry } from './instances/resume-retry.js';
import { type InstanceState, VMM_STATES } from './instances/state.js';
import { updateInstance } from './instances/update.js';
import { TMP_PREFIX, TRASH_PREFIX } from './paths.js';
import { MANIFEST_FILE } from './snapshots/payload.js';

/** What reconcile changed, for the start-up log and for tests. */
export interface ReconcileReport {
  /** Snapshot records removed: unfinished captures, finished deletions, lost payloads. */
  removedSnapshots: string[];
  /** Directories removed: temporary, half-deleted, or without a record. */
  removedPaths: string[];
  /** Instances whose VMM was found alive and re-attached. */
  reattached: string[];
  /** Instances whose state changed because their VMM was gone. */
  changed: { id: string; from: InstanceState; to: InstanceState }[];
  /** Instances removed because their create or fork never finished. */
  removedInstances: string[];
}

/** Runs the reconciliation described in the module doc; call before serving. */
export async function reconcile(ctx: DomainContext): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    removedSnapshots: [],
    removedPaths: [],
    reattached: [],
    changed: [],
    removedInstances: [],
  };
  const remove = async (path: string) => {
    await ctx.fs.removeDir(path);
    report.removedPaths.push(path);
  };

  // 1. Snapshot records against their payloads.
  for (const snapshot of ctx.repos.snapshots.all()) {
    const payload = ctx.paths.snapshot(snapshot.id);
    const trash = ctx.paths.snapshotTrash(snapshot.id);
    const complete = await exists(join(payload, MANIFEST_FILE));
    if (snapshot.status === 'ready' && complete && !(await exists(trash))) continue;
    if (await exists(payload)) await remove(payload);
    ctx.repos.snapshots.delete(snapshot.id);
    report.removedSnapshots.push(snapshot.id);
  }

  // 2. Directories nothing refers to.
  const snapshotIds = new Set(ctx.repos.snapshots.all().map((s) => s.id));
  for (const name of await listDir(ctx.paths.snapshots)) {
    if (isWorkInProgress(name) || !snapshotIds.has(name)) await remove(ctx.paths.snapshot(name));
  }
  const instanceIds = new Set(ctx.repos.instances.all().map((i) => i.id));
  for (const name of await listDir(ctx.paths.instances)) {
    if (isWorkInProgress(name) || !instanceIds.has(name)) await remove(ctx.paths.instance(name));
  }
  const imageNames = new Set(ctx.repos.images.list().map((i) => i.name));
  for (const name of await listDir(ctx.paths.images)) {
    if (isWorkInProgress(name) || !imageNames.has(name)) await remove(ctx.paths.image(name));
  }

  // 3. Instances against their VMMs.
  for (const instance of ctx.repos.instances.all()) {
    for (const leftover of [ctx.paths.standbyTmp(instance.id), ctx.paths.restoreTmp(instance.id)]) {
      if (await exists(leftover)) await remove(leftover);
    }
    const after = await reconcileInstance(ctx, instance, report);
    if (!after) {
      await remove(ctx.paths.instance(instance.id));
      ctx.repos.instances.delete(instance.id);
      report.removedInstances.push(instance.id);
    } else if (after.state !== instance.state) {
      report.changed.push({ id: instance.id, from: instance.state, to: after.state });
    }
  }
  ctx.logger.info(
    {
      removedSnapshots: report.removedSnapshots.length,
      removedPaths: report.removedPaths.length,
      reattached: report.reattached.length,
      changed: report.changed.length,
    },
    'data dir reconciled',
  );
  return report;
}

async function reconcileInstance(
  ctx: DomainContext,
  instance: InstanceRecord,
  report: ReconcileReport,
): Promise<InstanceRecord | undefined> {
  const standbyComplete = await exists(join(ctx.paths.standbyDir(instance.id), MANIFEST_FILE));
  if (VMM_STATES.includes(instance.state) || instance.state === 'Unknown') {
    const driver = ctx.drivers.get(instance.hypervisor);
    let vm: Vm | undefined;
    try {
      vm = await driver?.attach(ctx.paths.runDir(instance.id), instance.spec);
    } catch (err) {
      // A VMM may still run that we cannot talk to: never report it Stopped (a start would
      // boot a second VMM on the same disk). Unknown allows delete only.
      ctx.logger.warn({ instanceId: instance.id, err }, 'could not re-attach a VMM');
      return updateInstance(ctx, instance, {
        state: 'Unknown',
        stateError: `could not reach its VMM after a restart: ${(err as Error).message}`,
      });
    }
    const power = await vm?.status().catch(() => 'exited' as const);
    if (vm && (power === 'running' || power === 'paused' || power === 'starting')) {
      watchVm(ctx, instance.id, vm);
      report.reattached.push(instance.id);
      // The live VMM holds the current memory; standby state left by a crash is stale.
      await ctx.fs.removeDir(ctx.paths.standbyDir(instance.id));
      const after =
        power === 'paused'
          ? await settlePaused(ctx, instance, vm)
          : { state: 'Running' as const, stateError: null };
      const updated = updateInstance(ctx, instance, { ...after, pid: vm.pid });
      if (after.stateError) rearmResumeRetry(ctx, instance.id);
      return updated;
    }
    if (vm) await vm.kill().catch(() => undefined);
    if (instance.state === 'Created') return undefined;
  } else if (instance.state === 'Standby' && standbyComplete) {
    return instance;
  } else if (instance.state === 'Stopped') {
    await ctx.fs.removeDir(ctx.paths.standbyDir(instance.id));
    return instance;
  }
  return updateInstance(ctx, instance, {
    state: standbyComplete ? 'Standby' : 'Stopped',
    stateError: null,
    pid: null,
    stoppedAt: instance.stoppedAt ?? ctx.clock.now(),
  });
}

/**
 * The state of a re-attached VMM found paused. If the record says Paused, the user paused it
 * (or a resume failed, and its error and retry carry on). Otherwise the pause was an
 * operation's (a capture, a standby, a fork's restore) that the crash cut short, so the guest
 * runs again; if it will not, it is reported and retried like a failed resume.
 */
async function settlePaused(
  ctx: DomainContext,
  instance: InstanceRecord,
  vm: Vm,
): Promise<{ state: 'Running' | 'Paused'; stateError: string | null }> {
  if (instance.state === 'Paused') return { state: 'Paused', stateError: instance.stateError };
  const log = ctx.logger.child({ instanceId: instance.id, was: instance.state });
  try {
    await vm.resume();
    log.info({}, 'resumed a guest an interrupted operation had paused');
    return { state: 'Running', stateError: null };
  } catch (err) {
    log.warn({ err }, 'could not resume a guest an interrupted operation had paused');
    const reason = (err as Error).message;
    return {
      state: 'Paused',
      stateError: `left paused by an operation the server was cut in; resume failed: ${reason}`,
    };
  }
}

function isWorkInProgress(name: string): boolean {
  return name.startsWith(TMP_PREFIX) || name.startsWith(TRASH_PREFIX);
}

/**
 * The orphan scan (cases H6): snapshot payloads without a ready record, and records without a
 * complete payload. Empty on an idle, healthy data dir.
 */
export async function scanOrphans(ctx: DomainContext): Promise<string[]> {
  const orphans: string[] = [];
  const records = ctx.repos.snapshots.all();
  const ready = new Set(records.filter((r) => r.status === 'ready').map((r) => r.id));
  for (const name of await listDir(ctx.paths.snapshots)) {
    if (!ready.has(name)) orphans.push(`payload without a ready record: ${name}`);
  }
  for (const record of records) {
    if (record.status !== 'ready') orphans.push(`record ${record.id} is ${record.status}`);
    else if (!(await exists(join(ctx.paths.snapshot(record.id), MANIFEST_FILE)))) {
      orphans.push(`record ${record.id} has no complete payload`);
    }
  }
  return orphans;
}
