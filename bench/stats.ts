/**
 * Small numeric helpers the benchmarks share: percentiles, a peak-memory sampler, CPU share over
 * a window, and number formatting for the report's tables.
 */
import { readFile } from 'node:fs/promises';

/** The `p`-th percentile (0–100) of `values` by the nearest-rank method; 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

/** p50, p95, p99 and max of a sample, in its own unit. */
export interface Spread {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return {
    count: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.reduce((a, b) => Math.max(a, b), 0),
  };
}

/** The median of a small sample (the lower middle for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** Peak RSS and heap of this process, sampled on an interval while it runs. */
export class MemorySampler {
  peakRssBytes = 0;
  peakHeapBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    const usage = process.memoryUsage();
    this.peakRssBytes = Math.max(this.peakRssBytes, usage.rss);
    this.peakHeapBytes = Math.max(this.peakHeapBytes, usage.heapUsed);
  }
}

/** CPU time of this process since `startedAt`, as a percentage of one core over `wallMs`. */
export function cpuPercent(startedAt: NodeJS.CpuUsage, wallMs: number): number {
  const used = process.cpuUsage(startedAt);
  return ((used.user + used.system) / 1000 / Math.max(1, wallMs)) * 100;
}

/** `1234.5` → `1,235`; small values keep `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function mib(bytes: number, digits = 1): string {
  return fmt(bytes / 1024 / 1024, digits);
}

/** A Markdown table from a header row and body rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Jiffies per second in /proc/stat (USER_HZ, 100 on every mainstream Linux build). */
const USER_HZ = 100;

/**
 * CPU time the whole host has been busy (all cores, user + system + interrupts, from
 * /proc/stat), in ms; undefined where there is no /proc/stat. Subtracting this process's own
 * CPU time over a window shows how much other processes competed with the measurement.
 */
export async function hostBusyMs(): Promise<number | undefined> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => undefined);
  const fields = text?.split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number);
  if (!fields || fields.length < 7) return undefined;
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return ((user + nice + system + irq + softirq) / USER_HZ) * 1000;
}
