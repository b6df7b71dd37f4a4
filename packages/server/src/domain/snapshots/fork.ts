/**
 * Forking a snapshot into a new instance (`POST /snapshots/{sid}/fork`). The fork gets its own
 * copies of the snapshot's disks — it never shares a writable file with the snapshot, the
 * source or another fork — and lives on after the snapshot is deleted. Its target state
 * defaults by kind: a Standby snapshot's fork runs, a Stopped one's stays stopped.
 */
import { mkdir } from 'node:fs/promises';
import type { Vm } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import { AlreadyExistsError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { DomainContext } from '../instances/context.js';
import { insertOrConflict, rollBackNewInstance } from '../instances/create.js';
import { callDriver } from '../instances/driver-call.js';
import { watchVm } from '../instances/exits.js';
import { driverFor, instanceKey } from '../instances/resolve.js';
import { resolveTargetState } from '../instances/state.js';
import { updateInstance } from '../instances/update.js';
import { validateName, validateTags } from '../instances/validation.js';
import { requireReady, snapshotKey } from './lookup.js';
import { readManifest, readSourceFacts, respec, stageDisks, stageStandbyState } from './payload.js';

/** The body of `POST /snapshots/{sid}/fork`. */
export interface ForkSnapshotInput {
  name: string;
  target_state?: string;
  /** The fork's tags; omitted: the source instance's tags. */
  tags?: Record<string, string>;
}

/** Creates a new instance from a ready snapshot. */
export async function forkSnapshot(
  ctx: DomainContext,
  snapshotId: string,
  input: ForkSnapshotInput,
): Promise<InstanceRecord> {
  const name = validateName('name', input.name);
  const tags = input.tags === undefined ? undefined : validateTags('tags', input.tags);
  const snapshot = requireReady(ctx, snapshotId);
  const target = resolveTargetState(snapshot.kind, input.target_state);
  const driver = driverFor(ctx, snapshot.sourceHypervisor);
  if (ctx.repos.instances.getByName(name)) {
    throw new AlreadyExistsError(`an instance named ${name} already exists`);
  }

  const id = newId();
  const log = ctx.logger.child({ instanceId: id, name, snapshotId });
  return ctx.locks.run(snapshotKey(snapshotId), () =>
    ctx.locks.run(instanceKey(id), async () => {
      const snapshotDir = ctx.paths.snapshot(requireReady(ctx, snapshotId).id);
      const [manifest, source] = await Promise.all([
        readManifest(snapshotDir),
        readSourceFacts(ctx, snapshotId),
      ]);
      if (!ctx.repos.images.get(source.image)) {
        throw new NotFoundError(`image ${source.image} of snapshot ${snapshotId} no longer exists`);
      }

      // 1. Reserve the name with a record in a transitional state.
      const serialLog = ctx.paths.serialLog(id);
      let instance = insertOrConflict(ctx, {
        id,
        name,
        image: source.image,
        hypervisor: snapshot.sourceHypervisor,
        vcpus: manifest.spec.vcpus,
        memoryBytes: manifest.spec.memoryMiB * 1024 ** 2,
        env: source.env,
        tags: tags ?? source.tags,
        state: 'Created',
        stateError: null,
        pid: null,
        spec: respec(manifest, [], serialLog),
        createdAt: ctx.clock.now(),
        startedAt: null,
        stoppedAt: null,
      });
      ctx.events.emit({ type: 'instance.created', instanceId: id, name, at: ctx.clock.now() });

      let vm: Vm | undefined;
      try {
        // 2. Own copies of the disks, then the state the target needs.
        await mkdir(ctx.paths.instance(id), { recursive: true });
        const disks = await stageDisks(ctx, snapshotDir, manifest, ctx.paths.instance(id));
        const spec = respec(manifest, disks, serialLog);
        instance = updateInstance(ctx, instance, { spec });
        if (target === 'Standby') {
          await stageStandbyState(ctx, snapshotDir, manifest, ctx.paths.standbyDir(id), spec);
          return updateInstance(ctx, instance, { state: 'Standby' });
        }
        if (target === 'Stopped') return updateInstance(ctx, instance, { state: 'Stopped' });

        // 3. Running: continue the captured guest, or boot the captured disks.
        const runDir = ctx.paths.runDir(id);
        await mkdir(runDir, { recursive: true });
        vm = await callDriver(
          ctx,
          {
            instance,
            action: snapshot.kind === 'Standby' ? 'restore' : 'boot',
            subject: `fork ${name} of snapshot ${snapshotId}`,
            advice: `nothing was created; fork it with target_state Stopped to get its disks, then start that instance`,
          },
          () =>
            snapshot.kind === 'Standby'
              ? driver.restore({ snapshotDir, spec, runDir, resume: true })
              : driver.start({ spec, runDir }),
        );
        watchVm(ctx, id, vm);
        log.info({ target }, 'snapshot forked');
        return updateInstance(ctx, instance, {
          state: 'Running',
          pid: vm.pid,
          startedAt: ctx.clock.now(),
        });
      } catch (err) {
        log.info({ reason: (err as Error).message }, 'fork failed; rolling back');
        await rollBackNewInstance(ctx, id, name, vm);
        throw err;
      }
    }),
  );
}
