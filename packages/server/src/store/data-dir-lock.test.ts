import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirBusyError, lockDataDir, PID_FILE } from './data-dir-lock.js';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A live Node process standing for another server. */
function otherServer(): number {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
  children.push(child);
  return child.pid!;
}

/** The pid of a Node process that has exited, as a server killed with SIGKILL leaves. */
async function deadServer(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const dataDir = () => mkdtempSync(join(tmpdir(), 'vmkeep-lock-'));

describe('the data dir lock', () => {
  it('is claimed with this pid and given up on release', () => {
    const dir = dataDir();
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(existsSync(join(dir, PID_FILE))).toBe(false);
  });

  it('refuses a data dir another live server holds, naming its pid, and leaves its claim', () => {
    const dir = dataDir();
    const pid = otherServer();
    writeFileSync(join(dir, PID_FILE), `${pid}\n`);
    expect(() => lockDataDir(dir)).toThrow(DataDirBusyError);
    expect(() => lockDataDir(dir)).toThrow(`is in use by another vmkeep server (pid ${pid})`);
    expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(pid));
  });

  it('takes over the claim of a server that died', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, PID_FILE), `${await deadServer()}\n`);
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, PID_FILE), 'utf8').trim()).toBe(String(process.pid));
    release();
  });

  it('takes over a claim this process left (services restarted in-process)', () => {
    const dir = dataDir();
    lockDataDir(dir);
    expect(() => lockDataDir(dir)).not.toThrow();
  });
});
