/**
 * File operations the domain performs on payloads, behind an interface so tests can make one
 * fail (a payload that cannot be removed, a copy that runs out of space).
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { copySparse } from '@vmkeep/hypervisor';

/** File operations on payloads; tests override them to inject storage faults. */
export interface FileOps {
  /** Removes a directory tree; succeeds if it is already gone. */
  removeDir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /**
   * Copies one file, as a reflink where the filesystem can (XFS, btrfs), else in full with
   * its holes kept.
   */
  copyFile(from: string, to: string): Promise<void>;
}

/** The real file operations. */
export const nodeFileOps: FileOps = {
  removeDir: (path) => rm(path, { recursive: true, force: true }),
  rename: (from, to) => rename(from, to),
  copyFile: (from, to) => copySparse(from, to),
};

/** True if `path` exists (any type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Total apparent size of the regular files under `dir`, recursively. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirSize(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** Names of the entries directly in `dir`; empty when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Copies the regular files directly in `from` into `to` (created if needed), except those
 * named in `skip`. Checks `signal` between files so a long copy can be cancelled.
 */
export async function copyFlatDir(
  fs: FileOps,
  from: string,
  to: string,
  opts: { skip?: readonly string[]; signal?: AbortSignal } = {},
): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!entry.isFile() || opts.skip?.includes(entry.name)) continue;
    opts.signal?.throwIfAborted();
    await fs.copyFile(join(from, entry.name), join(to, entry.name));
  }
}
