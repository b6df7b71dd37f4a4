/**
 * Restoring an instance in place from one of its snapshots
 * (`POST /instances/{id}/snapshots/{sid}/restore`). Only a Stopped or Standby instance may be
 * restored (an allow-list: a live VMM must never have its files replaced under it). The target
 * state defaults by kind: a Standby snapshot comes back Running, a Stopped one Stopped.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiskSpec } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import { InvalidRequestError } from '../errors.js';
import type { DomainContext } from '../instances/context.js';
import { callDriver } from '../instances/driver-call.js';
import { watchVm } from '../instances/exits.js';
import { driverFor, type VerbOptions, withInstance } from '../instances/resolve.js';
import { assertTransition, resolveTargetState } from '../instances/state.js';
import { updateInstance } from '../instances/update.js';
import { requireReady, snapshotKey } from './lookup.js';
import { readManifest, respec, stageDisks, stageStandbyState } from './payload.js';

/** The body of `POST /instances/{id}/snapshots/{sid}/restore`. */
export interface RestoreSnapshotInput {
  target_state?: string;
}

/** Replaces an instance's files with a snapshot's and brings it to the target state. */
export async function restoreSnapshot(
  ctx: DomainContext,
  instanceRef: string,
  snapshotId: string,
  input: RestoreSnapshotInput = {},
  opts: VerbOptions = {},
): Promise<InstanceRecord> {
  return withInstance(ctx, instanceRef, 'restore snapshot', opts, async (instance) => {
    const snapshot = requireReady(ctx, snapshotId);
    if (snapshot.sourceInstanceId !== instance.id) {
      throw new InvalidRequestError(
        `snapshot ${snapshotId} belongs to instance ${snapshot.sourceInstanceName}, not ${instance.name}; fork it instead`,
      );
    }
    assertTransition('restore_snapshot', instance);
    const target = resolveTargetState(snapshot.kind, input.target_state);
    const driver = target === 'Running' ? driverFor(ctx, snapshot.sourceHypervisor) : undefined;

    return ctx.locks.run(snapshotKey(snapshotId), async () => {
      // Again under the snapshot's lock: a delete that held it first has removed it (404).
      requireReady(ctx, snapshotId);
      const snapshotDir = ctx.paths.snapshot(snapshotId);
      const manifest = await readManifest(snapshotDir);

      // 1. Stage working copies next to the instance's files, so a failed copy leaves the
      //    instance as it was.
      const staging = ctx.paths.restoreTmp(instance.id);
      await ctx.fs.removeDir(staging);
      await mkdir(staging, { recursive: true });
      let staged: DiskSpec[];
      try {
        staged = await stageDisks(ctx, snapshotDir, manifest, staging);
      } catch (err) {
        await ctx.fs.removeDir(staging);
        throw err;
      }

      // 2. Swap them in: old standby state and disks out, the snapshot's in.
      await ctx.fs.removeDir(ctx.paths.standbyDir(instance.id));
      const disks: DiskSpec[] = [];
      for (const disk of staged) {
        const path = ctx.paths.instanceDisk(instance.id, disk.id, disk.format);
        await ctx.fs.rename(disk.path, path);
        disks.push({ ...disk, path });
      }
      await removeStaleDisks(ctx, instance, disks);
      await ctx.fs.removeDir(staging);
      const spec = respec(manifest, disks, ctx.paths.serialLog(instance.id));
      let restored = updateInstance(ctx, instance, {
        spec,
        vcpus: spec.vcpus,
        memoryBytes: spec.memoryMiB * 1024 ** 2,
        state: 'Stopped',
        stateError: null,
        pid: null,
      });

      // 3. Bring it to the target state.
      if (target === 'Standby') {
        await stageStandbyState(
          ctx,
          snapshotDir,
          manifest,
          ctx.paths.standbyDir(instance.id),
          spec,
        );
        return updateInstance(ctx, restored, { state: 'Standby' });
      }
      if (target === 'Stopped') return restored;
      const runDir = ctx.paths.runDir(instance.id);
      await mkdir(runDir, { recursive: true });
      // The instance's files already hold the snapshot: a failure leaves it Stopped on them.
      const vm = await callDriver(
        ctx,
        {
          instance: restored,
          action: snapshot.kind === 'Standby' ? 'restore' : 'boot',
          subject: `instance ${instance.name} from snapshot ${snapshotId}`,
          advice: `${instance.name} is left Stopped with the snapshot's disks; start it to boot them, or restore another snapshot`,
        },
        () =>
          snapshot.kind === 'Standby'
            ? driver!.restore({ snapshotDir, spec, runDir, resume: true })
            : driver!.start({ spec, runDir }),
      );
      watchVm(ctx, instance.id, vm);
      restored = updateInstance(ctx, restored, {
        state: 'Running',
        pid: vm.pid,
        startedAt: ctx.clock.now(),
        stoppedAt: null,
      });
      ctx.logger.info({ instanceId: instance.id, snapshotId, target }, 'snapshot restored');
      return restored;
    });
  });
}

/** Removes disks of the old spec that the restored spec no longer uses. */
async function removeStaleDisks(ctx: DomainContext, instance: InstanceRecord, keep: DiskSpec[]) {
  const kept = new Set(keep.map((d) => d.path));
  for (const disk of instance.spec.disks) {
    if (kept.has(disk.path) || !disk.path.startsWith(join(ctx.paths.instance(instance.id), '/'))) {
      continue;
    }
    await ctx.fs.removeDir(disk.path);
  }
}
