import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSerialRelay } from '../src/cloud-hypervisor/serial-relay.js';
import { isAlive } from '../src/process/proc.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp('/tmp/vmkeep-ch-relay-');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('startSerialRelay', () => {
  it('appends what the VMM writes, even when the VMM opens the FIFO with truncation', async () => {
    const log = join(dir, 'serial.log');
    await writeFile(log, 'boot 1\n');
    const relay = await startSerialRelay(join(dir, 'serial.fifo'), log);

    // What CH's File::create does: O_WRONLY|O_CREAT|O_TRUNC on the configured path.
    const vmm = await open(relay.fifoPath, 'w');
    await vmm.write('boot 2\n');
    await vmm.close();

    await expect.poll(() => isAlive(relay.pid)).toBe(false);
    expect(await readFile(log, 'utf8')).toBe('boot 1\nboot 2\n');
  });

  it('ends without a kill when the VMM never opened the FIFO', { timeout: 5000 }, async () => {
    const relay = await startSerialRelay(join(dir, 'serial.fifo'), join(dir, 'serial.log'));
    // A grace longer than the test's timeout: only the release of the blocked open() can pass.
    await relay.stop(60_000);
    expect(await isAlive(relay.pid)).toBe(false);
  });
});
