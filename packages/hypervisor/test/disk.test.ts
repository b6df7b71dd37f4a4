import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBlankDisk, createOverlay, diskInfo, flattenCopy } from '../src/disk.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** Writes `pattern` (a byte) over `length` bytes at `offset` of a qcow2 image, with qemu-io. */
async function writePattern(image: string, pattern: number, offset: number, length: number) {
  await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} ${length}`, image]);
}

/** True when `length` bytes at `offset` all hold `pattern`, per qemu-io's own verification. */
async function holdsPattern(
  image: string,
  format: string,
  pattern: number,
  offset: number,
  length: number,
) {
  const { stdout } = await run('qemu-io', [
    '-r',
    '-f',
    format,
    '-c',
    `read -P ${pattern} ${offset} ${length}`,
    image,
  ]).catch((e: { stdout: string }) => e);
  return !stdout.includes('Pattern verification failed');
}

describe('disk helpers', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmkeep-disk-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a sparse blank qcow2 of the requested size', async () => {
    const image = join(dir, 'blank.qcow2');

    await createBlankDisk(image, 64 * MiB);

    const info = await diskInfo(image);
    expect(info).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * MiB });
    expect(info.actualSizeBytes).toBeLessThan(MiB);
    expect(info.backingFile).toBeUndefined();
  });

  it('creates an overlay that reads through to its backing image and keeps writes to itself', async () => {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    await createBlankDisk(base, 16 * MiB);
    await writePattern(base, 0xaa, 0, 65536);

    await createOverlay(overlay, base, 'qcow2');
    await writePattern(overlay, 0x55, 0, 4096);

    expect((await diskInfo(overlay)).backingFile).toBe(base);
    expect(await holdsPattern(overlay, 'qcow2', 0x55, 0, 4096)).toBe(true);
    expect(await holdsPattern(overlay, 'qcow2', 0xaa, 4096, 61440)).toBe(true);
    expect(await holdsPattern(base, 'qcow2', 0xaa, 0, 4096)).toBe(true);
  });

  it('refuses a relative backing path, which would resolve elsewhere once files move', async () => {
    await expect(createOverlay(join(dir, 'o.qcow2'), 'base.qcow2', 'qcow2')).rejects.toThrow(
      /must be absolute/,
    );
  });

  it('flattens a chain into a standalone copy holding the data of every layer', async () => {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    const copy = join(dir, 'copy.qcow2');
    await createBlankDisk(base, 16 * MiB);
    await writePattern(base, 0xaa, 0, 65536);
    await createOverlay(overlay, base, 'qcow2');
    await writePattern(overlay, 0x55, 65536, 65536);

    await flattenCopy(overlay, copy, { srcFormat: 'qcow2' });

    const info = await diskInfo(copy);
    expect(info.backingFile).toBeUndefined();
    expect(info.virtualSizeBytes).toBe(16 * MiB);
    expect(await holdsPattern(copy, 'qcow2', 0xaa, 0, 65536)).toBe(true);
    expect(await holdsPattern(copy, 'qcow2', 0x55, 65536, 65536)).toBe(true);
  });

  it('copies into a sparse raw image when asked', async () => {
    const base = join(dir, 'base.qcow2');
    const raw = join(dir, 'copy.raw');
    await createBlankDisk(base, 8 * MiB);
    await writePattern(base, 0x11, 512, 512);

    await flattenCopy(base, raw, { srcFormat: 'qcow2', destFormat: 'raw' });

    const bytes = await readFile(raw);
    expect(bytes.length).toBe(8 * MiB);
    expect(bytes.subarray(512, 1024).every((b) => b === 0x11)).toBe(true);
    expect((await diskInfo(raw)).actualSizeBytes).toBeLessThan(MiB);
  });

  it('leaves neither the destination nor a partial file when the copy fails', async () => {
    const copy = join(dir, 'copy.qcow2');

    await expect(flattenCopy(join(dir, 'missing.qcow2'), copy)).rejects.toThrow(
      /qemu-img convert failed: .*missing\.qcow2/,
    );

    expect(await readdir(dir)).toEqual([]);
  });

  it('stops the copy and cleans up when aborted', async () => {
    const base = join(dir, 'base.qcow2');
    await createBlankDisk(base, 8 * MiB);
    const reason = new Error('stop');

    await expect(
      flattenCopy(base, join(dir, 'copy.qcow2'), { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);

    expect(await readdir(dir)).toEqual(['base.qcow2']);
  });
});
