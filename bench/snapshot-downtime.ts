/**
 * Snapshot downtime of a running QEMU guest, per capture method, next to the physical limit.
 *
 * For each guest size and method (background-snapshot, stop-copy) it boots the default guest
 * under TCG with part of its RAM filled with random data, takes a few snapshots and reports the
 * median guest pause (STOP → RESUME), the median total time, the bytes written, and the time a
 * plain sequential write (+ fsync) of the same number of bytes takes in the same directory.
 *
 *   npx tsx bench/snapshot-downtime.ts [--runs 3] [--sizes 256,1024] [--fill-fraction 0.125]
 *
 * Prints numbers; asserts nothing. `runSnapshotDowntimeBench` returns the rows for a runner.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createBlankDisk } from '../packages/hypervisor/src/disk.js';
import { requireDefaultGuestImage } from '../packages/hypervisor/src/guest-image.js';
import { QemuDriver } from '../packages/hypervisor/src/qemu/driver.js';
import type { VmSpec } from '../packages/hypervisor/src/types.js';

export type BenchMethod = 'background-snapshot' | 'stop-copy';

export interface DowntimeRow {
  guestMiB: number;
  /** RAM the guest filled with random data before the snapshots. */
  filledMiB: number;
  method: BenchMethod;
  runs: number;
  /** Medians over the runs. */
  pauseMs: number;
  totalMs: number;
  bytesWritten: number;
  rawWriteMs: number;
  /** `totalMs / rawWriteMs`: 1.0 means the capture is as fast as the disk. */
  ratio: number;
}

export interface DowntimeBenchOptions {
  sizesMiB?: number[];
  methods?: BenchMethod[];
  runs?: number;
  /** Share of RAM the guest fills with random data (idle RAM is nearly free to save). */
  fillFraction?: number;
  /** Where guests and snapshots live (default: a new temp dir, removed afterwards). */
  workDir?: string;
  log?: (line: string) => void;
}

/** Runs the benchmark, one guest at a time, and returns one row per size and method. */
export async function runSnapshotDowntimeBench(
  opts: DowntimeBenchOptions = {},
): Promise<DowntimeRow[]> {
  const log = opts.log ?? (() => {});
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'vmkeep-bench-')));
  const rows: DowntimeRow[] = [];
  try {
    for (const guestMiB of opts.sizesMiB ?? [256, 1024]) {
      for (const method of opts.methods ?? ['background-snapshot', 'stop-copy']) {
        const filledMiB = Math.round(guestMiB * (opts.fillFraction ?? 0.125));
        log(`${guestMiB} MiB guest (${filledMiB} MiB filled), ${method}`);
        const dir = join(workDir, `${guestMiB}-${method}`);
        await mkdir(dir, { recursive: true });
        rows.push(await benchOne(dir, guestMiB, filledMiB, method, opts.runs ?? 3, log));
      }
    }
  } finally {
    if (!opts.workDir) await rm(workDir, { recursive: true, force: true });
  }
  return rows;
}

async function benchOne(
  dir: string,
  guestMiB: number,
  filledMiB: number,
  method: BenchMethod,
  runs: number,
  log: (line: string) => void,
): Promise<DowntimeRow> {
  const driver = new QemuDriver({
    accel: 'tcg',
    snapshotMethod: method === 'stop-copy' ? 'stop-copy' : 'auto',
  });
  const spec = await benchSpec(dir, guestMiB, filledMiB);
  const vm = await driver.start({ spec, runDir: join(dir, 'run') });
  const samples: { pauseMs: number; totalMs: number; bytes: number; rawMs: number }[] = [];
  try {
    // The guest fills its RAM before its first tick.
    await waitForLine(spec.serialLogPath, 'tick 1 ', 120_000);
    for (let run = 0; run < runs; run++) {
      const snapshotDir = join(dir, `snap-${run}`);
      await mkdir(snapshotDir);
      const manifest = await vm.snapshot(snapshotDir);
      if (manifest.details?.method !== method) {
        throw new Error(`asked for ${method}, QEMU captured with ${manifest.details?.method}`);
      }
      const bytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
      const rawMs = await rawSequentialWrite(join(dir, 'raw.bin'), bytes);
      samples.push({ pauseMs: manifest.pauseMs, totalMs: manifest.totalMs, bytes, rawMs });
      log(
        `  run ${run + 1}: pause ${manifest.pauseMs} ms, total ${manifest.totalMs} ms, raw ${rawMs} ms`,
      );
      await rm(snapshotDir, { recursive: true, force: true });
    }
  } finally {
    await vm.kill();
  }
  const totalMs = median(samples.map((s) => s.totalMs));
  const rawWriteMs = median(samples.map((s) => s.rawMs));
  return {
    guestMiB,
    filledMiB,
    method,
    runs,
    pauseMs: median(samples.map((s) => s.pauseMs)),
    totalMs,
    bytesWritten: median(samples.map((s) => s.bytes)),
    rawWriteMs,
    ratio: Math.round((totalMs / Math.max(1, rawWriteMs)) * 100) / 100,
  };
}

async function benchSpec(dir: string, guestMiB: number, filledMiB: number): Promise<VmSpec> {
  const image = await requireDefaultGuestImage();
  const disk = join(dir, 'disk0.qcow2');
  await createBlankDisk(disk, 256 * 1024 * 1024);
  return {
    vcpus: 1,
    memoryMiB: guestMiB,
    kernel: image.kernel,
    initrd: image.initrd,
    cmdline: `${image.cmdline} fill=${filledMiB}`,
    disks: [{ id: 'disk0', path: disk, format: 'qcow2' }],
    serialLogPath: join(dir, 'serial.log'),
  };
}

/** The physical limit: `bytes` written sequentially in 1 MiB blocks, then fsync. */
async function rawSequentialWrite(path: string, bytes: number): Promise<number> {
  const block = randomBytes(1024 * 1024);
  const started = performance.now();
  const file = await open(path, 'w');
  try {
    for (let left = bytes; left > 0; left -= block.length) {
      await file.write(block, 0, Math.min(block.length, left));
    }
    await file.sync();
  } finally {
    await file.close();
  }
  const ms = Math.round(performance.now() - started);
  await rm(path, { force: true });
  return ms;
}

async function waitForLine(path: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await readFile(path, 'utf8').catch(() => '')).includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in ${path} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The rows as a Markdown table. */
export function downtimeTable(rows: DowntimeRow[]): string {
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const lines = [
    '| guest | filled | method | pause ms | total ms | written MiB | raw write ms | total / raw |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.guestMiB} MiB | ${r.filledMiB} MiB | ${r.method} | ${r.pauseMs} | ${r.totalMs} | ${mib(r.bytesWritten)} | ${r.rawWriteMs} | ${r.ratio} |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      sizes: { type: 'string', default: '256,1024' },
      'fill-fraction': { type: 'string', default: '0.125' },
    },
  });
  const rows = await runSnapshotDowntimeBench({
    runs: Number(values.runs),
    sizesMiB: values.sizes.split(',').map(Number),
    fillFraction: Number(values['fill-fraction']),
    log: (line) => console.error(line),
  });
  console.log(downtimeTable(rows));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
