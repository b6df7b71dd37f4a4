/**
 * Copies a guest disk image for a snapshot or a restore. Cloud Hypervisor snapshots no disk
 * content, so the driver copies the images itself while the guest is paused; how long that takes
 * is how long the guest stays frozen.
 *
 * Minimal on purpose: it lives here because the shared disk helpers (`../disk.ts`) did not exist
 * when the driver was written, and should move onto them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `cp --reflink=auto --sparse=always`: an O(1) clone on XFS/btrfs, and elsewhere a full copy
 * that keeps holes as holes (a mostly empty raw image stays small).
 */
export async function copyDiskImage(
  src: string,
  dest: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await run('cp', ['--reflink=auto', '--sparse=always', '--', src, dest], {
      signal,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`copying disk ${src} to ${dest} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: err,
    });
  }
}
