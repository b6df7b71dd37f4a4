/**
 * Facts about processes read from /proc. vmkeep finds its VMMs again by pid after a restart, so
 * "alive" must exclude zombies and "same process" must survive pid reuse.
 */
import { readdir, readFile } from 'node:fs/promises';

/** The fields of /proc/<pid>/stat vmkeep uses, or undefined when the process is gone. */
export async function readStat(
  pid: number,
): Promise<{ state: string; ppid: number; pgid: number; startTicks: number } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')': split after the
  // last ')'. What follows starts at field 3 (state); 4 is ppid, 5 pgrp, 22 the start time.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    startTicks: Number(rest[19]),
  };
}

/** True while the process exists and has not exited (a zombie has exited). */
export async function isAlive(pid: number): Promise<boolean> {
  const stat = await readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** The process's argv, or undefined when it is gone. */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((arg) => arg !== '');
  } catch {
    return undefined;
  }
}

/** Live processes in process group `pgid` other than its leader (a VMM's helper processes). */
export async function groupMembers(pgid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const members: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      if (pid === pgid) return;
      const stat = await readStat(pid);
      if (stat && stat.pgid === pgid && stat.state !== 'Z') members.push(pid);
    }),
  );
  return members;
}
