/**
 * The data directory's layout, in one place. Everything vmkeep writes lives under one root:
 *
 * ```
 * <data>/vmkeep.db
 * <data>/images/<name>/{kernel,initrd,rootfs.<format>}
 * <data>/instances/<id>/{disk0.qcow2, serial.log, run/, standby/}
 * <data>/snapshots/<id>/                  a complete snapshot
 * <data>/snapshots/.tmp-<id>/             one being written; renamed into place when complete
 * ```
 *
 * Names starting with a dot are work in progress (`.tmp-*`) or on their way out (`.del-*`);
 * startup reconciliation removes any that a crash left behind.
 */
import { join } from 'node:path';

/** Prefix of a directory being written, renamed into place when complete. */
export const TMP_PREFIX = '.tmp-';
/** Prefix of a directory hidden on its way to deletion. */
export const TRASH_PREFIX = '.del-';

/** Paths inside one data dir. */
export class DataPaths {
  constructor(readonly root: string) {}

  get database(): string {
    return join(this.root, 'vmkeep.db');
  }

  get images(): string {
    return join(this.root, 'images');
  }

  image(name: string): string {
    return join(this.images, name);
  }

  get instances(): string {
    return join(this.root, 'instances');
  }

  instance(id: string): string {
    return join(this.instances, id);
  }

  /** The writable disk image a guest boots from. */
  instanceDisk(id: string, diskId = 'disk0', format: 'qcow2' | 'raw' = 'qcow2'): string {
    return join(this.instance(id), `${diskId}.${format}`);
  }

  /** The guest's serial console, appended to across boots and restores. */
  serialLog(id: string): string {
    return join(this.instance(id), 'serial.log');
  }

  /** The VMM's sockets, pid file and logs. */
  runDir(id: string): string {
    return join(this.instance(id), 'run');
  }

  /** An instance's own memory state while it is in Standby (no VMM running). */
  standbyDir(id: string): string {
    return join(this.instance(id), 'standby');
  }

  /** Where standby state is written before it is renamed to {@link standbyDir}. */
  standbyTmp(id: string): string {
    return join(this.instance(id), `${TMP_PREFIX}standby`);
  }

  /** Where a snapshot's payload is staged before it replaces an instance's files. */
  restoreTmp(id: string): string {
    return join(this.instance(id), `${TMP_PREFIX}restore`);
  }

  instanceTrash(id: string): string {
    return join(this.instances, `${TRASH_PREFIX}${id}`);
  }

  get snapshots(): string {
    return join(this.root, 'snapshots');
  }

  snapshot(id: string): string {
    return join(this.snapshots, id);
  }

  snapshotTmp(id: string): string {
    return join(this.snapshots, `${TMP_PREFIX}${id}`);
  }

  snapshotTrash(id: string): string {
    return join(this.snapshots, `${TRASH_PREFIX}${id}`);
  }
}
