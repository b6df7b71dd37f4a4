/**
 * Restore time of a real QEMU guest (TCG), next to a cold boot of the same guest.
 *
 * Per guest size, one guest at a time:
 * 1. Cold boot (the baseline): spawn → QMP ready → first heartbeat line on the serial console.
 *    The guest dirties part of its RAM with random data before its first heartbeat, so the
 *    snapshot below carries real memory, not zero pages.
 * 2. Snapshot that running guest (the driver's default method), then kill it.
 * 3. Restore into a new QEMU process, with a copy of the snapshot's disk and a fresh serial log:
 *    spawn → QMP ready → incoming migration done and guest resumed → its next heartbeat.
 *
 * Phase times come from the driver's own log lines (phase-logger.ts); the heartbeat from the
 * serial log, polled every 10 ms.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBlankDisk } from '../packages/hypervisor/src/disk.js';
import { requireDefaultGuestImage } from '../packages/hypervisor/src/guest-image.js';
import { QemuDriver } from '../packages/hypervisor/src/qemu/driver.js';
import type { SnapshotManifest, Vm, VmSpec } from '../packages/hypervisor/src/types.js';
import { PhaseLogger } from './phase-logger.js';
import { fmt, mib, table } from './stats.js';

export interface RestoreBenchOptions {
  sizesMiB?: number[];
  /** Share of RAM the guest fills with random data before its first heartbeat. */
  fillFraction?: number;
  log?: (line: string) => void;
}

/** Milliseconds from the spawn request; undefined where the phase was not seen. */
export interface PhaseTimes {
  spawnedMs?: number;
  qmpReadyMs?: number;
  /** Restore only: the incoming migration completed and the guest was resumed. */
  restoredMs?: number;
  firstTickMs: number;
}

export interface RestoreRow {
  guestMiB: number;
  filledMiB: number;
  snapshotBytes: number;
  coldBoot: PhaseTimes;
  restore: PhaseTimes;
  method: string;
}

const HEARTBEAT = /^tick \d+ uptime=/m;
const BOOT_TIMEOUT_MS = 180_000;

/** Runs the benchmark; every QEMU it starts is killed and the temp dir removed. */
export async function runRestoreBench(opts: RestoreBenchOptions = {}): Promise<RestoreRow[]> {
  const log = opts.log ?? (() => {});
  const root = await mkdtemp(join(tmpdir(), 'vmkeep-bench-restore-'));
  const phases = new PhaseLogger();
  const driver = new QemuDriver({ accel: 'tcg', logger: phases });
  const rows: RestoreRow[] = [];
  try {
    for (const guestMiB of opts.sizesMiB ?? [256, 1024]) {
      const filledMiB = Math.round(guestMiB * (opts.fillFraction ?? 0.125));
      log(`  ${guestMiB} MiB guest (${filledMiB} MiB filled)`);
      const dir = join(root, String(guestMiB));
      rows.push(await benchOne(driver, phases, dir, guestMiB, filledMiB));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

async function benchOne(
  driver: QemuDriver,
  phases: PhaseLogger,
  dir: string,
  guestMiB: number,
  filledMiB: number,
): Promise<RestoreRow> {
  const image = await requireDefaultGuestImage();
  await mkdir(join(dir, 'snapshot'), { recursive: true });
  await mkdir(join(dir, 'restored'), { recursive: true });
  const spec: VmSpec = {
    vcpus: 1,
    memoryMiB: guestMiB,
    kernel: image.kernel,
    initrd: image.initrd,
    cmdline: `${image.cmdline} fill=${filledMiB}`,
    disks: [{ id: 'disk0', path: join(dir, 'disk0.qcow2'), format: 'qcow2' }],
    serialLogPath: join(dir, 'serial.log'),
  };
  await createBlankDisk(spec.disks[0]!.path, 256 * 1024 * 1024);

  // 1–2. Cold boot, then the snapshot of that same guest.
  let coldBoot: PhaseTimes;
  let manifest: SnapshotManifest;
  const source = await timed(phases, spec.serialLogPath, () =>
    driver.start({ spec, runDir: join(dir, 'run') }),
  );
  try {
    coldBoot = await untilHeartbeat(source, phases);
    manifest = await source.vm.snapshot(join(dir, 'snapshot'));
  } finally {
    await source.vm.kill();
  }
  const snapshotBytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  const method = String(manifest.details?.method ?? 'unknown');

  // 3. Restore into a new process, on its own working copy of the disk.
  const restoredDisk = join(dir, 'restored', 'disk0.qcow2');
  const diskFile = manifest.files.find((f) => f.role === 'disk' && f.diskId === 'disk0');
  if (!diskFile) throw new Error('the snapshot has no copy of disk0');
  await copyFile(join(dir, 'snapshot', diskFile.path), restoredDisk);
  const restoredSpec: VmSpec = {
    ...spec,
    disks: [{ ...spec.disks[0]!, path: restoredDisk }],
    serialLogPath: join(dir, 'restored', 'serial.log'),
  };
  const restored = await timed(phases, restoredSpec.serialLogPath, () =>
    driver.restore({
      snapshotDir: join(dir, 'snapshot'),
      spec: restoredSpec,
      runDir: join(dir, 'restored', 'run'),
    }),
  );
  try {
    const restore = await untilHeartbeat(restored, phases);
    return { guestMiB, filledMiB, snapshotBytes, coldBoot, restore, method };
  } finally {
    await restored.vm.kill();
  }
}

interface Timed {
  vm: Vm;
  startedAt: number;
  serialLogPath: string;
}

/** Starts a VM with fresh phase marks; `startedAt` is just before the driver call. */
async function timed(
  phases: PhaseLogger,
  serialLogPath: string,
  start: () => Promise<Vm>,
): Promise<Timed> {
  phases.clear();
  const startedAt = performance.now();
  const vm = await start();
  return { vm, startedAt, serialLogPath };
}

/** Waits for the first heartbeat in the VM's serial log, then reads the phase marks. */
async function untilHeartbeat(t: Timed, phases: PhaseLogger): Promise<PhaseTimes> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  while (!HEARTBEAT.test(await readFile(t.serialLogPath, 'utf8').catch(() => ''))) {
    if (Date.now() > deadline) throw new Error(`no heartbeat in ${t.serialLogPath}`);
    await sleep(10);
  }
  const firstTickMs = performance.now() - t.startedAt;
  return {
    spawnedMs: phases.after('spawned', t.startedAt),
    qmpReadyMs: phases.after('qmpReady', t.startedAt),
    restoredMs: phases.after('restored', t.startedAt),
    firstTickMs,
  };
}

/** The rows as the report's section. */
export function restoreReport(rows: RestoreRow[]): string {
  const ms = (value: number | undefined) => (value === undefined ? '?' : fmt(value));
  const body = rows.flatMap((r) => [
    [
      `${r.guestMiB} MiB (${r.filledMiB} MiB filled)`,
      'restore',
      `${mib(r.snapshotBytes)} MiB, ${r.method}`,
      ms(r.restore.spawnedMs),
      ms(r.restore.qmpReadyMs),
      ms(r.restore.restoredMs),
      ms(r.restore.firstTickMs),
      fmt(r.restore.firstTickMs / r.coldBoot.firstTickMs, 2),
    ],
    [
      '',
      'baseline: cold boot',
      '',
      ms(r.coldBoot.spawnedMs),
      ms(r.coldBoot.qmpReadyMs),
      '—',
      ms(r.coldBoot.firstTickMs),
      '1.00',
    ],
  ]);
  return [
    'Real QEMU under TCG, one guest at a time; times in ms from the spawn request. The guest ' +
      'dirties the filled RAM with random data before its first heartbeat (`tick N`), so a cold ' +
      'boot includes that work and the snapshot carries it.',
    '',
    table(
      [
        'guest',
        'how',
        'snapshot',
        'spawned',
        'QMP ready',
        'incoming done',
        'first tick',
        'vs cold boot',
      ],
      body,
    ),
  ].join('\n');
}
