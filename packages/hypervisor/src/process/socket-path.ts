/**
 * Unix socket paths must fit in `sun_path` (108 bytes with its NUL), and data dirs nested in CI
 * workspaces easily exceed that. A socket whose natural path is too long lives in a short
 * directory under /tmp instead, named by a hash of the run dir so the same run dir
 * always maps to the same place (and a re-attach finds it without reading anything).
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Longest usable path: 108 bytes of `sun_path` minus the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Where the socket `name` of `runDir` lives; pure, so supervisor and re-attach agree. */
export function socketPathFor(runDir: string, name: string): string {
  const natural = join(resolve(runDir), name);
  if (Buffer.byteLength(natural) <= MAX_SOCKET_PATH_BYTES) return natural;
  const hash = createHash('sha256').update(resolve(runDir)).digest('hex').slice(0, 16);
  // /tmp itself, not $TMPDIR: the point is a path short enough whatever the environment says.
  return join('/tmp', `vmkeep-${hash}`, name);
}

/** {@link socketPathFor}, creating its directory (private to this user) when it is the short one. */
export async function prepareSocketPath(runDir: string, name: string): Promise<string> {
  const path = socketPathFor(runDir, name);
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  return path;
}
