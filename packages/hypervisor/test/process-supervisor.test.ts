import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectUnixSocket } from '../src/process/connect.js';
import { isAlive } from '../src/process/proc.js';
import {
  MAX_SOCKET_PATH_BYTES,
  prepareSocketPath,
  socketPathFor,
} from '../src/process/socket-path.js';
import { PID_FILE, RECORD_FILE, VmmProcess } from '../src/process/vmm-process.js';

/** A stand-in VMM: prints to both streams, then lives until signalled. */
const FAKE_VMM = `
  process.stdout.write('out line\\n');
  process.stderr.write('err line 1\\nerr line 2\\n');
  if (process.argv.includes('--ignore-term')) process.on('SIGTERM', () => {});
  setInterval(() => {}, 1000);
`;

describe('VmmProcess', () => {
  let runDir: string;
  const started: VmmProcess[] = [];

  beforeEach(async () => {
    runDir = await mkdtemp(join(tmpdir(), 'vmkeep-proc-'));
  });

  afterEach(async () => {
    for (const vmm of started.splice(0)) await vmm.kill({ graceMs: 200 });
    await rm(runDir, { recursive: true, force: true });
  });

  const spawnFake = async (...extra: string[]) => {
    const identity = join(runDir, 'identity.sock');
    const vmm = await VmmProcess.spawn({
      binary: process.execPath,
      args: ['-e', FAKE_VMM, identity, ...extra],
      runDir,
      identity,
      meta: { note: 'kept for re-attach' },
    });
    started.push(vmm);
    // Output arrives asynchronously; the fake writes it first thing.
    for (let i = 0; i < 100 && !(await vmm.stderrTail()).includes('err line 2'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return vmm;
  };

  it('spawns detached, appends output to run-dir files and writes the pid file and record', async () => {
    const vmm = await spawnFake();

    expect(await isAlive(vmm.pid)).toBe(true);
    expect((await readFile(join(runDir, PID_FILE), 'utf8')).trim()).toBe(String(vmm.pid));
    const record = JSON.parse(await readFile(join(runDir, RECORD_FILE), 'utf8'));
    expect(record).toMatchObject({ pid: vmm.pid, meta: { note: 'kept for re-attach' } });
    expect(record.startTicks).toBeGreaterThan(0);
    expect(await readFile(join(runDir, 'vmm.stdout.log'), 'utf8')).toContain('out line');
    expect(await vmm.stderrTail()).toBe('err line 1\nerr line 2');
  });

  it('kills with SIGTERM and reports the exit with the stderr tail', async () => {
    const vmm = await spawnFake();

    const exit = await vmm.kill();

    expect(exit.signal).toBe('SIGTERM');
    expect(exit.stderrTail).toContain('err line 2');
    expect(vmm.hasExited).toBe(true);
    expect(await isAlive(vmm.pid)).toBe(false);
  });

  it('escalates to SIGKILL when the process ignores SIGTERM', async () => {
    const vmm = await spawnFake('--ignore-term');

    const exit = await vmm.kill({ graceMs: 100 });

    expect(exit.signal).toBe('SIGKILL');
  });

  it('re-attaches by pid file and notices the exit of a process it did not spawn', async () => {
    const vmm = await spawnFake();

    const attached = await VmmProcess.attach(runDir);

    expect(attached?.pid).toBe(vmm.pid);
    expect(attached?.record.meta).toEqual({ note: 'kept for re-attach' });
    process.kill(vmm.pid, 'SIGTERM');
    const exit = await attached!.exited;
    expect(exit.code).toBeNull();
    expect(exit.stderrTail).toContain('err line 2');
  });

  it('refuses to attach to a live pid that is another process', async () => {
    const vmm = await spawnFake();
    const record = JSON.parse(await readFile(join(runDir, RECORD_FILE), 'utf8'));
    // The pid now names this test runner: alive, but not the VMM (its argv lacks the identity).
    await writeFile(
      join(runDir, RECORD_FILE),
      JSON.stringify({ ...record, pid: process.pid, startTicks: 0 }),
    );

    expect(await VmmProcess.attach(runDir)).toBeUndefined();
    await vmm.kill();
  });

  it('finds nothing to attach to once the process is gone or when no record exists', async () => {
    const vmm = await spawnFake();
    await vmm.kill();

    expect(await VmmProcess.attach(runDir)).toBeUndefined();
    expect(await VmmProcess.attach(join(runDir, 'never-used'))).toBeUndefined();
  });

  it('rejects when the binary does not exist', async () => {
    await expect(
      VmmProcess.spawn({ binary: join(runDir, 'no-such-vmm'), args: [], runDir, identity: 'x' }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('socket paths', () => {
  it('keeps the socket in the run dir when the path fits', () => {
    expect(socketPathFor('/var/lib/vmkeep/run/i-1', 'qmp.sock')).toBe(
      '/var/lib/vmkeep/run/i-1/qmp.sock',
    );
  });

  it('moves the socket to a short /tmp dir, the same one every time, when the path is too long', async () => {
    const runDir = join('/tmp', 'x'.repeat(120), 'instance');

    const path = await prepareSocketPath(runDir, 'qmp.sock');

    expect(path).toMatch(/^\/tmp\/vmkeep-[0-9a-f]{16}\/qmp\.sock$/);
    expect(Buffer.byteLength(path)).toBeLessThanOrEqual(MAX_SOCKET_PATH_BYTES);
    expect(socketPathFor(runDir, 'qmp.sock')).toBe(path);
    expect(socketPathFor(`${runDir}-2`, 'qmp.sock')).not.toBe(path);
    await rm(join(path, '..'), { recursive: true });
  });
});

describe('connectUnixSocket', () => {
  it('retries until the listener appears', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmkeep-sock-'));
    const path = join(dir, 'late.sock');
    const server = createServer((s) => s.end());
    setTimeout(() => server.listen(path), 80);

    const socket = await connectUnixSocket(path, { timeoutMs: 2000 });

    expect(socket.readyState).toBe('open');
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('gives up at once when the process behind the socket has died', async () => {
    const started = Date.now();

    await expect(
      connectUnixSocket('/tmp/vmkeep-no-such.sock', { timeoutMs: 5000, gaveUp: () => true }),
    ).rejects.toThrow(/exited before listening/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('fails after the deadline when nothing ever listens', async () => {
    await expect(connectUnixSocket('/tmp/vmkeep-no-such.sock', { timeoutMs: 60 })).rejects.toThrow(
      /no listener .* after 60 ms/,
    );
  });
});
