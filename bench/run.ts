/**
 * `npm run bench`: runs the benchmarks one after another and prints ONE Markdown report, also
 * written to `bench/results/latest.md`. Each bench compares against a baseline measured in the
 * same run; nothing here asserts a time (DESIGN.md, "Testing layers" 6).
 *
 *   npm run bench [-- --only scheduler,api,snapshot,restore] [--quick] [--captures 16] [--readme]
 *
 * `--quick` is a smoke run of the same code at a smaller scale (about two minutes instead of
 * about eight). `--readme` also puts the report into README.md's performance section; only a
 * whole, full-scale run may. Progress goes to stderr, the report to stdout.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { apiReport, runApiBench } from './api-throughput.js';
import { busyness, describeMachine, machineReport } from './machine.js';
import { writeBenchTable } from './readme-table.js';
import { restoreReport, runRestoreBench } from './restore-time.js';
import { runSchedulerBench, schedulerReport } from './scheduler-lateness.js';
import { downtimeTable, runSnapshotDowntimeBench } from './snapshot-downtime.js';
import { fmt } from './stats.js';

const BENCHES = ['scheduler', 'api', 'snapshot', 'restore'] as const;
type BenchName = (typeof BENCHES)[number];

/** The scale of each bench, full and quick. */
function settings(quick: boolean, captures: number) {
  return {
    scheduler: quick
      ? { schedules: 1_000, intervalMs: 6_000, windowMs: 20_000, maxConcurrentCaptures: captures }
      : {
          schedules: 10_000,
          intervalMs: 60_000,
          windowMs: 120_000,
          maxConcurrentCaptures: captures,
        },
    api: quick
      ? { durationS: 3, warmupS: 1, connections: 10 }
      : { durationS: 10, warmupS: 2, connections: 10 },
    snapshot: quick ? { sizesMiB: [256], runs: 1 } : { sizesMiB: [256, 1024], runs: 3 },
    restore: { sizesMiB: quick ? [256] : [256, 1024] },
  };
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      captures: { type: 'string', default: '16' },
      readme: { type: 'boolean', default: false },
    },
  });
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...BENCHES];
  const unknown = only.filter((name) => !BENCHES.includes(name as BenchName));
  if (unknown.length > 0) {
    throw new Error(`--only ${unknown.join(',')}: pick from ${BENCHES.join(', ')}`);
  }
  const captures = Number(values.captures);
  if (!Number.isInteger(captures) || captures < 1 || captures > 64) {
    throw new Error(`--captures ${values.captures}: an integer from 1 to 64`);
  }
  if (values.readme && (values.quick || values.only)) {
    throw new Error('--readme takes a whole full-scale run: drop --quick and --only');
  }
  return { only: only as BenchName[], quick: values.quick, captures, readme: values.readme };
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const scale = settings(opts.quick, opts.captures);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const startedAt = new Date();
  const machine = await describeMachine();
  const sections: string[] = [];

  // One bench at a time: they all measure time on a 2-core machine.
  for (const name of opts.only) {
    const benchStart = performance.now();
    log(`== ${name}`);
    sections.push(await runOne(name, scale, log));
    log(`   (${fmt((performance.now() - benchStart) / 1000)} s)`);
  }

  const minutes = (Date.now() - startedAt.getTime()) / 60_000;
  const report = [
    `# vmkeep benchmarks${opts.quick ? ' (quick)' : ''}`,
    '',
    `${startedAt.toISOString()}, ${fmt(minutes, 1)} min. ` +
      'Each table has a baseline measured in the same run.',
    '',
    machineReport(machine, await busyness()),
    '',
    ...sections,
  ].join('\n');
  process.stdout.write(`${report}\n`);
  const out = new URL('./results/latest.md', import.meta.url);
  await mkdir(new URL('./', out), { recursive: true });
  await writeFile(out, `${report}\n`);
  log(`report written to bench/results/latest.md`);
  if (opts.readme) {
    await writeBenchTable(new URL('../README.md', import.meta.url), report);
    log('report put into README.md');
  }
}

async function runOne(
  name: BenchName,
  scale: ReturnType<typeof settings>,
  log: (line: string) => void,
): Promise<string> {
  switch (name) {
    case 'scheduler': {
      const result = await runSchedulerBench({ ...scale.scheduler, log });
      return `## Scheduler lateness at scale\n\n${schedulerReport(result)}\n`;
    }
    case 'api': {
      const result = await runApiBench({ ...scale.api, log });
      return `## API requests per second\n\n${apiReport(result)}\n`;
    }
    case 'snapshot': {
      const rows = await runSnapshotDowntimeBench({ ...scale.snapshot, log: (l) => log(`  ${l}`) });
      return [
        '## Snapshot downtime',
        '',
        `Real QEMU under TCG; medians of ${scale.snapshot.runs} snapshot(s) per row. The raw ` +
          'write is the same number of bytes written sequentially (+ fsync) to the same disk.',
        '',
        downtimeTable(rows),
        '',
      ].join('\n');
    }
    case 'restore': {
      const rows = await runRestoreBench({ ...scale.restore, log });
      return `## Restore time\n\n${restoreReport(rows)}\n`;
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
