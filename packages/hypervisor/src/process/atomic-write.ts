/** Small files that must never be seen half-written: pid files, records, manifests. */
import { open, rename } from 'node:fs/promises';

/**
 * Writes `content` to a temporary name, flushes it, then renames it over `path`: a reader (or a
 * crash) sees the old file or the new one, never a mix.
 */
export async function writeAtomically(path: string, content: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}
