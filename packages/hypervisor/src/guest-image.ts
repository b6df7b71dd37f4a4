/**
 * Where `scripts/build-guest.sh` puts vmkeep's default guest (a Debian cloud kernel and a busybox
 * initramfs that prints `tick N uptime=U boot_id=B` every second), resolved the same way the
 * script resolves it.
 */
import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The default guest's kernel command line: console on the first serial port (which drivers wire
 * to the instance's serial log), and reboot at once on a panic instead of hanging.
 */
export const DEFAULT_GUEST_CMDLINE = 'console=ttyS0 panic=-1';

/** The line the default guest's init prints once it runs; the accel canary waits for it. */
export const GUEST_INIT_MARKER = 'guest: init up';

export interface GuestImage {
  kernel: string;
  initrd: string;
  cmdline: string;
}

/** vmkeep's cache dir: `VMKEEP_CACHE_DIR`, else `$XDG_CACHE_HOME/vmkeep`, else `~/.cache/vmkeep`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VMKEEP_CACHE_DIR) return env.VMKEEP_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'vmkeep');
}

/** Paths of the default guest; the files exist once `scripts/build-guest.sh` has run. */
export function defaultGuestImage(env: NodeJS.ProcessEnv = process.env): GuestImage {
  const dir = join(cacheDir(env), 'guest');
  return {
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initramfs.cpio.gz'),
    cmdline: DEFAULT_GUEST_CMDLINE,
  };
}

/** The default guest, after checking its files are there; throws saying how to build them. */
export async function requireDefaultGuestImage(
  env: NodeJS.ProcessEnv = process.env,
): Promise<GuestImage> {
  const image = defaultGuestImage(env);
  try {
    await Promise.all([access(image.kernel), access(image.initrd)]);
  } catch {
    throw new Error(
      `the default guest image is missing from ${join(cacheDir(env), 'guest')}: run scripts/build-guest.sh (or npm run setup)`,
    );
  }
  return image;
}

/** The kernel release the default guest was built from (`6.1.0-57-cloud-amd64`), if built. */
export async function defaultGuestKernelRelease(
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  try {
    return (await readFile(join(cacheDir(env), 'guest', 'kernel-release'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}
