/**
 * Scheduler lateness at scale: many schedules on mock instances, through the real stack
 * (`createServices`: SQLite, the domain, the scheduler), on the real clock.
 *
 * 1. Create the instances (see mock-stack.ts for the one shortcut).
 * 2. PUT one schedule per instance, spread evenly over one interval, so the runs arrive at a
 *    steady `schedules / interval` per second instead of in one burst.
 * 3. Wait out the jitter window, after which every schedule is on its steady grid: a window of
 *    `k` intervals then holds exactly `k` runs of each schedule.
 * 4. Measure over the window: lateness of each run (its slot → the moment it claimed the slot
 *    and started capturing, from the scheduler's `run-started` event), runs finished, CPU,
 *    memory, and the database's size at the end.
 * 5. Baseline: as many bare `setTimeout` wake-ups as the scheduler had passes (timer-floor.ts).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { maxJitterNs } from '../packages/server/src/domain/schedules/cadence.js';
import {
  durationToMs,
  formatDuration,
  NS_PER_MS,
} from '../packages/server/src/domain/schedules/duration.js';
import { createInstances, openMockStack } from './mock-stack.js';
import {
  cpuPercent,
  fmt,
  hostBusyMs,
  MemorySampler,
  mib,
  type Spread,
  spreadOf,
  table,
} from './stats.js';
import { timerFloor } from './timer-floor.js';

export interface SchedulerBenchOptions {
  schedules: number;
  intervalMs: number;
  /** Length of the measured window. */
  windowMs: number;
  /** `VMKEEP_MAX_CONCURRENT_CAPTURES` for the run (the server's default is 2). */
  maxConcurrentCaptures: number;
  log?: (line: string) => void;
}

export interface SchedulerBenchResult {
  options: Omit<SchedulerBenchOptions, 'log'>;
  createMs: number;
  /** Milliseconds from a run's slot to its start. */
  lateness: Spread;
  succeeded: number;
  failed: number;
  skipped: number;
  /** The first few distinct failure messages, to tell a bench problem from a slow server. */
  errors: string[];
  /** Scheduler passes (wake-ups) in the window. */
  wakeups: number;
  cpuPercent: number;
  /** CPU other processes used meanwhile (% of a core), from /proc/stat; the host has 2 cores. */
  otherCpuPercent?: number;
  peakRssBytes: number;
  peakHeapBytes: number;
  dbBytes: number;
  runRows: number;
  /** Lateness of bare 1 ms `setTimeout` wake-ups, as many as `wakeups`. */
  floor: Spread;
}

/** Runs the benchmark; see the module doc for the steps. */
export async function runSchedulerBench(
  opts: SchedulerBenchOptions,
): Promise<SchedulerBenchResult> {
  const log = opts.log ?? (() => {});
  const stack = await openMockStack({
    env: {
      VMKEEP_MIN_SCHEDULE_INTERVAL: '1s',
      VMKEEP_MAX_CONCURRENT_CAPTURES: String(opts.maxConcurrentCaptures),
    },
  });
  const { services } = stack;
  try {
    // 1. Instances.
    let started = performance.now();
    const ids = await createInstances(services, opts.schedules);
    const createMs = performance.now() - started;
    log(`  ${fmt(ids.length)} mock instances created in ${fmt(createMs / 1000, 1)} s`);

    // 2. Schedules, spread over one interval.
    const intervalNs = BigInt(opts.intervalMs) * NS_PER_MS;
    const body = { interval: formatDuration(intervalNs), retention: { max_count: 1 } };
    const putStart = Date.now();
    for (let done = 0; done < ids.length; ) {
      const due = Math.min(
        ids.length,
        Math.floor(((Date.now() - putStart) / opts.intervalMs) * ids.length) + 1,
      );
      for (; done < due; done++) services.schedules.put(ids[done]!, body);
      await sleep(10);
    }
    log(`  ${fmt(ids.length)} schedules of ${body.interval} put over one interval`);

    // 3. Wait until every schedule is on its steady grid.
    const windowStart = putStart + opts.intervalMs + durationToMs(maxJitterNs(intervalNs)) + 100;
    const windowEnd = windowStart + opts.windowMs;
    const lateness: number[] = [];
    const counts = { succeeded: 0, failed: 0, skipped: 0, wakeups: 0 };
    const errors = new Set<string>();
    const inWindow = () => {
      const now = Date.now();
      return now >= windowStart && now < windowEnd;
    };
    // The handlers check the window themselves, so they can stay subscribed until the close.
    const events = services.scheduler.events;
    events.on('run-started', (e) => {
      if (e.startedAt >= windowStart && e.startedAt < windowEnd) {
        lateness.push(e.startedAt - e.scheduledFor);
      }
    });
    events.on('run-succeeded', () => inWindow() && counts.succeeded++);
    events.on('run-skipped', () => inWindow() && counts.skipped++);
    events.on('tick', () => inWindow() && counts.wakeups++);
    events.on('run-failed', (e) => {
      if (!inWindow()) return;
      counts.failed++;
      if (errors.size < 3) errors.add(e.error);
    });
    await sleep(Math.max(0, windowStart - Date.now()));

    // 4. The window.
    log(`  measuring for ${fmt(opts.windowMs / 1000)} s`);
    const hostStart = await hostBusyMs();
    const cpuStart = process.cpuUsage();
    const memory = new MemorySampler();
    started = performance.now();
    await sleep(Math.max(0, windowEnd - Date.now()));
    const wallMs = performance.now() - started;
    const cpu = cpuPercent(cpuStart, wallMs);
    const hostEnd = await hostBusyMs();
    memory.stop();
    const otherCpu =
      hostStart === undefined || hostEnd === undefined
        ? undefined
        : Math.max(0, ((hostEnd - hostStart) / wallMs) * 100 - cpu);
    const dbBytes = await dbSize(stack.dataDir);
    const runRows = services.db.prepare('SELECT count(*) FROM schedule_runs').pluck().get();

    // 5. The floor, on a quiet process: the stack is closed first.
    await stack.close();
    log(`  baseline: ${fmt(counts.wakeups)} bare setTimeout wake-ups`);
    const floor = await timerFloor(counts.wakeups);

    return {
      options: {
        schedules: opts.schedules,
        intervalMs: opts.intervalMs,
        windowMs: opts.windowMs,
        maxConcurrentCaptures: opts.maxConcurrentCaptures,
      },
      createMs,
      lateness: spreadOf(lateness),
      ...counts,
      errors: [...errors],
      cpuPercent: cpu,
      otherCpuPercent: otherCpu,
      peakRssBytes: memory.peakRssBytes,
      peakHeapBytes: memory.peakHeapBytes,
      dbBytes,
      runRows: Number(runRows),
      floor,
    };
  } finally {
    await stack.close();
  }
}

async function dbSize(dataDir: string): Promise<number> {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    total += await stat(join(dataDir, `vmkeep.db${suffix}`)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}

/** The result as the report's section. */
export function schedulerReport(r: SchedulerBenchResult): string {
  const o = r.options;
  const perSecond = (o.schedules / o.intervalMs) * 1000;
  const slotsDue = Math.round((o.schedules * o.windowMs) / o.intervalMs);
  const ms = (value: number) => fmt(value, value < 10 ? 1 : 0);
  const spreadCells = (s: Spread) => [ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)];
  const lines = [
    `${fmt(o.schedules)} schedules every ${fmt(o.intervalMs / 1000)} s ` +
      `(about ${fmt(perSecond)} runs a second), mock hypervisor, real clock, measured over ` +
      `${fmt(o.windowMs / 1000)} s after every schedule reached its steady grid; ` +
      `${o.maxConcurrentCaptures} captures at once; retention max_count 1. ` +
      `${fmt(o.schedules)} instances created in ${fmt(r.createMs / 1000, 1)} s ` +
      '(disks copied from one qemu-img blank instead of qemu-img per instance).',
    '',
    table(
      ['lateness (slot → capture start)', 'runs started', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [
        [
          'vmkeep scheduler',
          `${fmt(r.lateness.count)} (${fmt(slotsDue)} due)`,
          ...spreadCells(r.lateness),
        ],
        [
          'baseline: bare setTimeout(1 ms) loop, same wake-ups',
          fmt(r.floor.count),
          ...spreadCells(r.floor),
        ],
        ["goal: hypeman's minute poll", '—', 'up to 60,000', '', '', 'one instance after another'],
      ],
    ),
    '',
    table(
      [
        'succeeded',
        'failed',
        'skipped',
        'passes',
        'CPU % of a core',
        'other processes, % of a core',
        'peak RSS MiB',
        'peak heap MiB',
        'DB MiB (run rows)',
      ],
      [
        [
          fmt(r.succeeded),
          fmt(r.failed),
          fmt(r.skipped),
          fmt(r.wakeups),
          fmt(r.cpuPercent, 1),
          r.otherCpuPercent === undefined ? 'n/a' : fmt(r.otherCpuPercent, 1),
          mib(r.peakRssBytes, 0),
          mib(r.peakHeapBytes, 0),
          `${mib(r.dbBytes)} (${fmt(r.runRows)})`,
        ],
      ],
    ),
  ];
  if (r.errors.length > 0) lines.push('', `Failures, first distinct: ${r.errors.join(' / ')}`);
  return lines.join('\n');
}
