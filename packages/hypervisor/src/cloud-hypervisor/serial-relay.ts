/**
 * Keeps a guest's serial log append-only across restores.
 *
 * Cloud Hypervisor opens a `File` serial with create+truncate (Rust's `File::create`), so
 * pointing it at the instance's log would wipe the boot output on every restore. Instead CH
 * writes into a FIFO in the run dir, and a small `cat` process appends what it reads to the
 * log. The relay is detached like the VMM, so it outlives a server restart, and it ends by
 * itself when the VMM closes the FIFO (the VMM exits).
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isAlive } from '../process/proc.js';

const run = promisify(execFile);

export interface SerialRelay {
  /** Give this path to CH as its serial `File`. */
  readonly fifoPath: string;
  readonly pid: number;
  /**
   * Ends the relay once the VMM is gone. A VMM that never opened the FIFO (it failed before
   * booting) leaves the relay blocked in open(); opening and closing the write end releases
   * it with an empty read. The relay gets `graceMs` to drain and exit on its own, and is
   * killed after that.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Creates `fifoPath` (replacing a stale one) and starts appending from it to `logPath`. */
export async function startSerialRelay(fifoPath: string, logPath: string): Promise<SerialRelay> {
  await mkdir(dirname(logPath), { recursive: true });
  await rm(fifoPath, { force: true });
  // Node has no mkfifo(3); coreutils' mkfifo is on every host that runs CH.
  await run('mkfifo', ['-m', '600', fifoPath]);

  // The paths travel as positional arguments, never inside the script text.
  const child = spawn('sh', ['-c', 'exec cat -- "$0" >> "$1"', fifoPath, logPath], {
    stdio: 'ignore',
    detached: true,
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  const pid = child.pid!;

  return {
    fifoPath,
    pid,
    async stop(graceMs = 1000) {
      const deadline = Date.now() + graceMs;
      while ((await isAlive(pid)) && Date.now() < deadline) {
        // Repeated: a relay that has not reached its open() yet is released on a later round.
        await releaseReader(fifoPath);
        await sleep(20);
      }
      if (!(await isAlive(pid))) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    },
  };
}

/** Opens and closes the FIFO's write end, without blocking when there is no reader left. */
async function releaseReader(fifoPath: string): Promise<void> {
  try {
    const writer = await open(fifoPath, constants.O_WRONLY | constants.O_NONBLOCK);
    await writer.close();
  } catch {
    // ENXIO: no reader (the relay is gone already); ENOENT: the run dir was removed.
  }
}
