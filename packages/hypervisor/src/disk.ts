/**
 * Disk image helpers shared by the drivers and the domain (Stopped snapshots, forks, restores),
 * built on `qemu-img`. Every function that creates a file writes it under a temporary name and
 * renames it into place, so a crash or an abort never leaves a half-written image at `dest`.
 */
import { execFile } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type DiskFormat = 'raw' | 'qcow2';

export interface DiskOptions {
  /** `qemu-img` binary (default `qemu-img` from PATH). */
  qemuImg?: string;
  signal?: AbortSignal;
}

export interface DiskInfo {
  format: DiskFormat | string;
  virtualSizeBytes: number;
  /** Bytes allocated on the host (sparse files use less than their virtual size). */
  actualSizeBytes: number;
  /** Absolute path of the backing file, when the image is an overlay. */
  backingFile?: string;
}

/** Creates an empty sparse image of `sizeBytes` at `dest`. */
export async function createBlankDisk(
  dest: string,
  sizeBytes: number,
  format: DiskFormat = 'qcow2',
  opts: DiskOptions = {},
): Promise<void> {
  await produce(dest, opts, (temp) => ['create', '-q', '-f', format, temp, String(sizeBytes)]);
}

/**
 * Creates a qcow2 overlay at `dest` whose reads fall through to `backing` and whose writes stay
 * in `dest`: an O(1) working copy of a frozen image. `backing` must not change afterwards.
 */
export async function createOverlay(
  dest: string,
  backing: string,
  backingFormat: DiskFormat,
  opts: DiskOptions = {},
): Promise<void> {
  // Relative backing paths resolve against the overlay's directory, which breaks as soon as
  // either file moves: insist on absolute ones.
  if (!isAbsolute(backing)) throw new Error(`backing image path must be absolute: ${backing}`);
  await produce(dest, opts, (temp) => [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    backing,
    '-F',
    backingFormat,
    temp,
  ]);
}

export interface CopyOptions extends DiskOptions {
  /** Format of `src`; probed when omitted (never probe an untrusted raw image). */
  srcFormat?: DiskFormat;
  /** Format of the copy (default qcow2). */
  destFormat?: DiskFormat;
  /**
   * Read `src` although a running QEMU holds it (`-U`). Only safe when nothing writes to it
   * meanwhile, e.g. a base frozen under an overlay or a paused guest's disk.
   */
  forceShare?: boolean;
}

/**
 * Copies `src` (following its whole backing chain) into a standalone image at `dest`. Unwritten
 * and zero areas stay holes, so the copy costs what the guest wrote, not the virtual size.
 */
export async function flattenCopy(
  src: string,
  dest: string,
  opts: CopyOptions = {},
): Promise<void> {
  await produce(dest, opts, (temp) => [
    'convert',
    ...(opts.forceShare ? ['-U'] : []),
    ...(opts.srcFormat ? ['-f', opts.srcFormat] : []),
    '-O',
    opts.destFormat ?? 'qcow2',
    src,
    temp,
  ]);
}

/**
 * Copies a file as `cp --reflink=auto --sparse=always` does: an O(1) clone on XFS or btrfs,
 * elsewhere a full copy that keeps holes as holes, so a mostly empty raw disk stays small
 * (Node's `copyFile` writes every zero). Any format; nothing is probed or converted.
 */
export async function copySparse(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  try {
    await run('cp', ['--reflink=auto', '--sparse=always', '--', src, dest], { signal });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`copying ${src} to ${dest} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: err,
    });
  }
}

/** What `qemu-img info` says about `path`. */
export async function diskInfo(
  path: string,
  opts: DiskOptions & { forceShare?: boolean } = {},
): Promise<DiskInfo> {
  const args = ['info', '--output=json', ...(opts.forceShare ? ['-U'] : []), path];
  const { stdout } = await qemuImg(args, opts);
  const info = JSON.parse(stdout) as Record<string, unknown>;
  const backing = (info['full-backing-filename'] ?? info['backing-filename']) as string | undefined;
  return {
    format: String(info.format),
    virtualSizeBytes: Number(info['virtual-size']),
    actualSizeBytes: Number(info['actual-size'] ?? 0),
    ...(backing ? { backingFile: backing } : {}),
  };
}

/** Runs `qemu-img` with `args(temp)`, then moves `temp` to `dest`; removes `temp` on failure. */
async function produce(
  dest: string,
  opts: DiskOptions,
  args: (temp: string) => string[],
): Promise<void> {
  const temp = `${dest}.partial-${process.pid}`;
  try {
    await qemuImg(args(temp), opts);
    await rename(temp, dest);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function qemuImg(args: string[], opts: DiskOptions): Promise<{ stdout: string }> {
  try {
    return await run(opts.qemuImg ?? 'qemu-img', args, {
      signal: opts.signal,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`qemu-img ${args[0]} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}
