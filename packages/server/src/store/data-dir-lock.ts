/**
 * One server per data dir. A second server on the same folder would reconcile it under the
 * first one's feet: mark its live guests Unknown (their QMP sockets are taken), delete its
 * half-written snapshots as leftovers of a crash. So the first thing a server does is claim
 * `<data>/vmkeep.pid`, and a second one is refused before it touches anything.
 *
 * A claim whose process is gone (a server killed with SIGKILL) is stale and taken over; so is
 * one by this very process (tests restart the services in-process on one data dir).
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PID_FILE = 'vmkeep.pid';

/** Another live server holds the data dir. */
export class DataDirBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `${dataDir} is in use by another vmkeep server (pid ${pid}); stop it first, ` +
        'or give this one another VMKEEP_DATA_DIR',
    );
    this.name = 'DataDirBusyError';
  }
}

/** Claims `dataDir` for this process; returns the function that gives it up. */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, PID_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const holder = readPid(path);
    if (holder !== undefined && holder !== process.pid && isServerProcess(holder)) {
      throw new DataDirBusyError(dataDir, holder);
    }
    // Stale: remove it and try once more (a server starting at the same instant wins `wx`).
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return () => {
    if (readPid(path) === process.pid) unlinkSync(path);
  };
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive, and a Node process: a pid reused by anything else after a crash is not a server. */
function isServerProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true; // no /proc to tell: assume the live process is a server
  }
}
