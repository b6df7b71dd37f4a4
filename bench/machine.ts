/**
 * What the benchmarks ran on, for the report's header: numbers mean little without the CPU,
 * the memory, the kernel, the Node and QEMU versions, the accelerator and how busy the host was.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { QemuDriver } from '../packages/hypervisor/src/qemu/driver.js';
import { fmt, table } from './stats.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  qemu: string;
  /** The accelerator the benches use, and the host's own verdict with its reason. */
  accel: string;
  /** How busy the host was when the run started. */
  atStart: Busyness;
}

/** The host's 1-minute load average and the QEMU processes running (none are ours then). */
export interface Busyness {
  load: number;
  qemuProcesses: number;
}

/** Reads how busy the host is right now. */
export async function busyness(): Promise<Busyness> {
  let qemuProcesses = 0;
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.startsWith('qemu-system')) qemuProcesses++;
  }
  return { load: loadavg()[0] ?? 0, qemuProcesses };
}

/** Reads the machine; QEMU facts say why when QEMU is missing instead of failing. */
export async function describeMachine(): Promise<Machine> {
  const qemu = await promisify(execFile)('qemu-system-x86_64', ['--version'], { timeout: 5_000 })
    .then(({ stdout }) => stdout.split('\n')[0]?.trim() ?? 'unknown')
    .catch((error: Error) => `not runnable (${error.message})`);
  const verdict = await new QemuDriver()
    .accelerator()
    .then((v) => `${v.accel}: ${v.reason}`)
    .catch((error: Error) => `unknown (${error.message})`);
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    qemu,
    accel: `the QEMU benches force TCG; the host's verdict is ${verdict}`,
    atStart: await busyness(),
  };
}

/** The machine as a two-column table, with how busy it was at the start and the end. */
export function machineReport(m: Machine, atEnd: Busyness): string {
  const busy = (b: Busyness) => `load ${fmt(b.load, 2)}, ${b.qemuProcesses} QEMU running`;
  return table(
    ['machine', ''],
    [
      ['CPU', `${m.cpu}, ${m.cores} cores`],
      ['memory', `${fmt(m.memoryGiB, 1)} GiB`],
      ['kernel', m.kernel],
      ['Node', m.node],
      ['QEMU', m.qemu],
      ['accel', m.accel],
      ['host busy (1-min load)', `at start: ${busy(m.atStart)}; at end: ${busy(atEnd)}`],
    ],
  );
}
