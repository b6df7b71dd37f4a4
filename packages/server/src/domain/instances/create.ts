/**
 * Creating an instance: Stopped → Created → Running, returning once the guest runs.
 */
import { mkdir } from 'node:fs/promises';
import type { Vm, VmSpec } from '@vmkeep/hypervisor';
import type { ImageRecord } from '../../store/images-repo.js';
import type { InstanceRecord } from '../../store/instances-repo.js';
import { AlreadyExistsError, DomainError, InvalidRequestError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { DomainContext } from './context.js';
import { callDriver } from './driver-call.js';
import { watchVm } from './exits.js';
import { chooseDriver } from './hypervisors.js';
import { instanceKey } from './resolve.js';
import { updateInstance } from './update.js';
import { parseSize, validateEnv, validateName, validateTags } from './validation.js';

/** The body of `POST /instances`. */
export interface CreateInstanceInput {
  name: string;
  /** Name of a registered image. */
  image: string;
  vcpus?: number;
  /** Memory, like "512MB" or "1GB". */
  size?: string;
  hypervisor?: string;
  env?: Record<string, string>;
  tags?: Record<string, string>;
}

const MIB = 1024 ** 2;
/** The most vCPUs an instance may have. */
export const MAX_VCPUS = 64;
/** The least memory an instance may have; less cannot boot a Linux guest. */
export const MIN_MEMORY_BYTES = 32 * MIB;

/** Creates and boots an instance; rolls everything back if the guest does not come up. */
export async function createInstance(
  ctx: DomainContext,
  input: CreateInstanceInput,
): Promise<InstanceRecord> {
  // 1. Validate the request before touching anything.
  const name = validateName('name', input.name);
  const vcpus = validateVcpus(input.vcpus ?? ctx.settings.defaultVcpus);
  const memoryBytes = validateMemory(input.size, ctx.settings.defaultMemoryBytes);
  const env = validateEnv(input.env);
  const tags = validateTags('tags', input.tags);
  const image = ctx.repos.images.get(input.image);
  if (!image) throw new NotFoundError(`image ${input.image} not found`);
  const driver = await chooseDriver(ctx, input.hypervisor);
  if (ctx.repos.instances.getByName(name)) {
    throw new AlreadyExistsError(`an instance named ${name} already exists`);
  }

  const id = newId();
  const log = ctx.logger.child({ instanceId: id, name });
  return ctx.locks.run(
    instanceKey(id),
    async () => {
      // 2. Reserve the name: the UNIQUE constraint settles a race between two creates.
      const spec = buildSpec(ctx, id, image, vcpus, memoryBytes);
      let instance = insertOrConflict(ctx, {
        id,
        name,
        image: image.name,
        hypervisor: driver.kind,
        vcpus,
        memoryBytes,
        env,
        tags,
        state: 'Created',
        stateError: null,
        pid: null,
        spec,
        createdAt: ctx.clock.now(),
        startedAt: null,
        stoppedAt: null,
      });
      ctx.events.emit({ type: 'instance.created', instanceId: id, name, at: ctx.clock.now() });

      // 3. Lay out the instance dir and its disk, then boot.
      let vm: Vm | undefined;
      try {
        await mkdir(ctx.paths.runDir(id), { recursive: true });
        await createDisk(ctx, image, spec.disks[0]!.path);
        vm = await callDriver(
          ctx,
          {
            instance,
            action: 'boot',
            advice: `nothing was created; check the kernel, initrd and disk of image ${image.name} (register a working one), or the requested vcpus and size`,
          },
          () => driver.start({ spec, runDir: ctx.paths.runDir(id) }),
        );
        watchVm(ctx, id, vm);
        instance = updateInstance(ctx, instance, {
          state: 'Running',
          pid: vm.pid,
          startedAt: ctx.clock.now(),
        });
        log.info({ hypervisor: driver.kind, vcpus, memoryBytes }, 'instance created');
        return instance;
      } catch (err) {
        // 4. Nothing of a failed create survives: no VMM, no files, no record. Each step runs
        //    even if the one before it failed; the error the client gets is the create's.
        log.info({ reason: (err as Error).message }, 'instance create failed; rolling back');
        await rollBackNewInstance(ctx, id, name, vm);
        throw err;
      }
    },
    { operation: 'create', subject: `instance ${name}` },
  );
}

function buildSpec(
  ctx: DomainContext,
  id: string,
  image: ImageRecord,
  vcpus: number,
  memoryBytes: number,
): VmSpec {
  const spec: VmSpec = {
    vcpus,
    memoryMiB: memoryBytes / MIB,
    kernel: image.kernelPath,
    cmdline: image.cmdline,
    disks: [{ id: 'disk0', path: ctx.paths.instanceDisk(id), format: 'qcow2' }],
    serialLogPath: ctx.paths.serialLog(id),
  };
  if (image.initrdPath) spec.initrd = image.initrdPath;
  return spec;
}

/**
 * An overlay on the image's root disk (the image stays untouched), else a blank disk. An image
 * disk `qemu-img` cannot read or build on is the image's fault: 400, naming it.
 */
async function createDisk(ctx: DomainContext, image: ImageRecord, path: string): Promise<void> {
  if (!image.diskPath) return ctx.disks.createBlank(path, ctx.settings.blankDiskBytes);
  const diskPath = image.diskPath;
  try {
    const { format } = await ctx.disks.info(diskPath);
    await ctx.disks.createOverlay(path, diskPath, format);
  } catch (err) {
    throw new DomainError(
      'invalid_request',
      `the root disk of image ${image.name} cannot be used: ${(err as Error).message}; nothing was created; register the image again with a raw or qcow2 disk`,
      { image: image.name },
      { cause: err },
    );
  }
}

/**
 * Undoes a create or fork that failed: kills its VMM, removes its files and its record. Every
 * step runs even if one before it failed (that is logged), so no record outlives its guest.
 */
export async function rollBackNewInstance(
  ctx: DomainContext,
  id: string,
  name: string,
  vm: Vm | undefined,
): Promise<void> {
  const log = ctx.logger.child({ instanceId: id, name });
  ctx.runtime.take(id);
  await vm?.kill().catch((err: unknown) => {
    log.warn({ err, pid: vm.pid }, 'could not kill the VMM of a failed create');
  });
  await ctx.fs.removeDir(ctx.paths.instance(id)).catch((err: unknown) => {
    log.warn({ err }, 'could not remove the files of a failed create; reconcile will');
  });
  ctx.repos.instances.delete(id);
  ctx.events.emit({ type: 'instance.deleted', instanceId: id, name, at: ctx.clock.now() });
}

/** Inserts the record, turning a name clash into 409 `already_exists`. */
export function insertOrConflict(
  ctx: DomainContext,
  instance: Omit<InstanceRecord, 'seq'>,
): InstanceRecord {
  // A name that is another instance's id would make `{id}` in a path reach that instance.
  if (ctx.repos.instances.get(instance.name)) {
    throw new AlreadyExistsError(
      `${instance.name} is the id of another instance; choose a name that is not an id`,
    );
  }
  try {
    return ctx.repos.instances.insert(instance);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new AlreadyExistsError(`an instance named ${instance.name} already exists`);
    }
    // The image was deleted since the request looked it up.
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      throw new NotFoundError(`image ${instance.image} not found`);
    }
    throw err;
  }
}

function validateVcpus(vcpus: unknown): number {
  if (typeof vcpus !== 'number' || !Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
    throw new InvalidRequestError(`vcpus ${String(vcpus)} is out of range; use 1 to ${MAX_VCPUS}`);
  }
  return vcpus;
}

function validateMemory(size: string | undefined, defaultBytes: number): number {
  if (size === undefined || size === '') return defaultBytes;
  const bytes = parseSize('size', size);
  if (bytes % MIB !== 0) {
    throw new InvalidRequestError(`size ${size} is not a whole number of MiB; round it to MB`);
  }
  if (bytes < MIN_MEMORY_BYTES) {
    throw new InvalidRequestError(`size ${size} is below the minimum of 32MB`);
  }
  return bytes;
}
