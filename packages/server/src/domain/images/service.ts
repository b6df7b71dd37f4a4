/**
 * Boot images: a kernel, an optional initrd and an optional root disk, registered from host
 * files and copied into `<data>/images/<name>/` (reflinked where the filesystem can), so a
 * later change to the host files never changes a guest. `default` is vmkeep's own guest,
 * registered at start from the guest image that setup builds.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { ImageRecord } from '../../store/images-repo.js';
import {
  AlreadyExistsError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
} from '../errors.js';
import { newId } from '../ids.js';
import type { DomainContext } from '../instances/context.js';
import { dirSize, exists } from '../instances/files.js';
import { validateName } from '../instances/validation.js';
import { TMP_PREFIX, TRASH_PREFIX } from '../paths.js';
import { readSourceFacts } from '../snapshots/payload.js';
import { type Image, toImage } from './view.js';

/** The body of `POST /images`. */
export interface CreateImageInput {
  name: string;
  kernel_path: string;
  initrd_path?: string;
  disk_path?: string;
  cmdline?: string;
}

/** The name of vmkeep's own guest image. */
export const DEFAULT_IMAGE = 'default';
/** Kernel command line of an image registered without one: console on the serial log. */
export const DEFAULT_CMDLINE = 'console=ttyS0';

/** The images' public face: list, get, create, delete, and `default` at start. */
export class ImageService {
  constructor(private readonly ctx: DomainContext) {}

  list(): ImageRecord[] {
    return this.ctx.repos.images.list();
  }

  get(name: string): ImageRecord {
    const image = this.ctx.repos.images.get(name);
    if (!image) throw new NotFoundError(`image ${name} not found`);
    return image;
  }

  /** Validates the host files, copies them into the data dir and records the image. */
  async create(input: CreateImageInput): Promise<ImageRecord> {
    const name = validateName('name', input.name);
    return this.ctx.locks.run(imageKey(name), async () => {
      if (this.ctx.repos.images.get(name)) {
        throw new AlreadyExistsError(`an image named ${name} already exists`);
      }
      return this.register(name, input);
    });
  }

  /**
   * Registers `default` from the guest image setup built (kernel + initrd in the cache dir),
   * unless it is already there with its files intact.
   */
  async ensureDefault(guest: {
    kernel: string;
    initrd: string;
    cmdline?: string;
  }): Promise<ImageRecord> {
    return this.ctx.locks.run(imageKey(DEFAULT_IMAGE), async () => {
      const current = this.ctx.repos.images.get(DEFAULT_IMAGE);
      if (current && (await exists(current.kernelPath))) return current;
      if (current) this.ctx.repos.images.delete(DEFAULT_IMAGE);
      return this.register(DEFAULT_IMAGE, {
        name: DEFAULT_IMAGE,
        kernel_path: guest.kernel,
        initrd_path: guest.initrd,
        cmdline: guest.cmdline ?? DEFAULT_CMDLINE,
      });
    });
  }

  /** Removes an image; 409 while an instance or a snapshot still boots from it. */
  async delete(name: string): Promise<void> {
    await this.ctx.locks.run(imageKey(name), async () => {
      const image = this.get(name);
      const users = this.ctx.repos.instances.countByImage(name);
      if (users > 0) {
        throw new ConflictError(`image ${name} is used by ${users} instance(s); delete them first`);
      }
      const snapshots = await this.snapshotsUsing(name);
      if (snapshots.length > 0) {
        throw new ConflictError(
          `image ${name} is needed to restore ${snapshots.length} snapshot(s); delete them first`,
          { snapshot_ids: snapshots },
        );
      }
      // The record goes first, with the users counted again in the same synchronous step: an
      // instance created while the snapshots were being checked has its row by now (and then
      // this is a 409), and one created after finds no image (404). Files then follow; a
      // crash in between leaves a directory without a record, which reconcile removes.
      this.dropRecordIfUnused(image.name);
      const trash = join(this.ctx.paths.images, `${TRASH_PREFIX}${image.name}-${newId()}`);
      await this.ctx.fs.rename(this.ctx.paths.image(image.name), trash);
      await this.ctx.fs.removeDir(trash).catch((err: unknown) => {
        this.ctx.logger.warn({ err, path: trash }, 'could not remove deleted image files');
      });
    });
  }

  /** Counts and deletes with no await between: no boot can take the image in the meantime. */
  private dropRecordIfUnused(name: string): void {
    if (this.ctx.repos.instances.countByImage(name) > 0) {
      throw new ConflictError(`image ${name} has just been taken into use; delete its users first`);
    }
    this.ctx.repos.images.delete(name);
  }

  view(record: ImageRecord): Image {
    return toImage(record);
  }

  private async register(name: string, input: CreateImageInput): Promise<ImageRecord> {
    const kernel = await checkHostFile('kernel_path', input.kernel_path);
    const initrd = input.initrd_path ? await checkHostFile('initrd_path', input.initrd_path) : null;
    const disk = input.disk_path ? await checkHostFile('disk_path', input.disk_path) : null;
    const diskFormat = disk ? (await this.diskInfo(disk)).format : null;

    // Copy into a temporary dir and rename it into place, so a half-copied image never exists.
    const final = this.ctx.paths.image(name);
    const tmp = join(this.ctx.paths.images, `${TMP_PREFIX}${name}-${newId()}`);
    const files = {
      kernel: join(final, 'kernel'),
      initrd: null as string | null,
      disk: null as string | null,
    };
    try {
      await mkdir(tmp, { recursive: true });
      await this.ctx.fs.copyFile(kernel, join(tmp, 'kernel'));
      if (initrd) {
        await this.ctx.fs.copyFile(initrd, join(tmp, 'initrd'));
        files.initrd = join(final, 'initrd');
      }
      if (disk) {
        await this.ctx.fs.copyFile(disk, join(tmp, `rootfs.${diskFormat}`));
        files.disk = join(final, `rootfs.${diskFormat}`);
      }
      const sizeBytes = await dirSize(tmp);
      await this.ctx.fs.removeDir(final); // leftovers of an image whose record is gone
      await this.ctx.fs.rename(tmp, final);
      const record: ImageRecord = {
        name,
        kernelPath: files.kernel,
        initrdPath: files.initrd,
        diskPath: files.disk,
        cmdline: input.cmdline ?? DEFAULT_CMDLINE,
        sizeBytes,
        createdAt: this.ctx.clock.now(),
      };
      this.ctx.repos.images.insert(record);
      this.ctx.logger.info({ image: name, sizeBytes }, 'image registered');
      return record;
    } catch (err) {
      await this.ctx.fs.removeDir(tmp);
      throw err;
    }
  }

  private async diskInfo(path: string) {
    let info: Awaited<ReturnType<typeof this.ctx.disks.info>>;
    try {
      info = await this.ctx.disks.info(path);
    } catch (err) {
      throw new InvalidRequestError(
        `disk_path ${path} is not a usable disk image: ${(err as Error).message}`,
      );
    }
    // Only this one file is copied: a backing file would stay outside the data dir, so host
    // changes would reach guests (and a guest could read any host file as its disk).
    if (info.backingFile) {
      throw new InvalidRequestError(
        `disk_path ${path} is an overlay on ${info.backingFile}; register a standalone image ` +
          `(qemu-img convert -O qcow2 ${path} standalone.qcow2)`,
      );
    }
    return info;
  }

  /** Ids of snapshots whose source instance booted from `name`. */
  private async snapshotsUsing(name: string): Promise<string[]> {
    const ids: string[] = [];
    for (const snapshot of this.ctx.repos.snapshots.all()) {
      const facts = await readSourceFacts(this.ctx, snapshot.id).catch(() => undefined);
      if (facts?.image === name) ids.push(snapshot.id);
    }
    return ids;
  }
}

function imageKey(name: string): string {
  return `image:${name}`;
}

/** A host path the server may copy: absolute, existing, a regular file, readable. */
async function checkHostFile(field: string, path: string): Promise<string> {
  if (typeof path !== 'string' || !isAbsolute(path)) {
    throw new InvalidRequestError(`${field} must be an absolute path on the server's host`);
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    throw new InvalidRequestError(`${field} ${path} does not exist`);
  }
  if (!info.isFile()) throw new InvalidRequestError(`${field} ${path} is not a regular file`);
  // Files under /proc and /sys say size 0 whatever they hold; neither is a boot file.
  if (info.size === 0) throw new InvalidRequestError(`${field} ${path} is empty`);
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new InvalidRequestError(`${field} ${path} is not readable by the server`);
  }
  return path;
}
