/**
 * API requests per second: autocannon (in this process) against a server in a child process
 * (api-server.ts), first vmkeep's real application for `GET /instances/{id}/snapshot-schedule`
 * with a bearer token, then a bare Hono route returning the same bytes (the baseline). Each
 * gets a short warm-up so both are measured with their code optimised.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { ApiServerReady, ApiServerRequest } from './api-server.js';
import { fmt, table } from './stats.js';

export interface ApiBenchOptions {
  /** Seconds per measured run. */
  durationS: number;
  warmupS: number;
  connections: number;
  log?: (line: string) => void;
}

export interface ApiRow {
  label: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Responses that were not 2xx, plus socket errors and timeouts. */
  bad: number;
}

export interface ApiBenchResult {
  options: Omit<ApiBenchOptions, 'log'>;
  /** Undefined when the route did not answer 200 (then it was not measured). */
  vmkeep?: ApiRow;
  /** Why vmkeep's route was not measured. */
  skipped?: string;
  bare: ApiRow;
  responseBytes: number;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./api-server.ts', import.meta.url));

/** Runs both servers one after the other; every child is stopped before this returns. */
export async function runApiBench(opts: ApiBenchOptions): Promise<ApiBenchResult> {
  const log = opts.log ?? (() => {});
  let body: string;
  let vmkeep: ApiRow | undefined;
  let skipped: string | undefined;

  // 1. vmkeep: check the route answers 200 first; a 501 measured would be a meaningless number.
  {
    const child = await startServer('vmkeep');
    try {
      const response = await fetch(child.ready.url, { headers: child.ready.headers });
      body = await response.text();
      if (response.status === 200) {
        log('  vmkeep GET snapshot-schedule');
        vmkeep = await load('vmkeep: GET /instances/{id}/snapshot-schedule', child.ready, opts);
      } else {
        skipped = `the route answered ${response.status}: ${body.slice(0, 120)}`;
        log(`  vmkeep not measured: ${skipped}`);
      }
    } finally {
      await child.stop();
    }
  }

  // 2. The bare route, with the same response bytes.
  const child = await startServer('bare', body);
  try {
    log('  bare Hono route');
    const bare = await load('baseline: bare Hono route, same body', child.ready, opts);
    const { log: _, ...options } = opts;
    return { options, vmkeep, skipped, bare, responseBytes: Buffer.byteLength(body) };
  } finally {
    await child.stop();
  }
}

async function load(label: string, target: ApiServerReady, opts: ApiBenchOptions): Promise<ApiRow> {
  const base = { url: target.url, headers: target.headers, connections: opts.connections };
  if (opts.warmupS > 0) await autocannon({ ...base, duration: opts.warmupS });
  const r = await autocannon({ ...base, duration: opts.durationS });
  return {
    label,
    requestsPerSecond: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

interface ServerChild {
  ready: ApiServerReady;
  stop(): Promise<void>;
}

/** Forks api-server.ts under tsx and waits for its `ready` message. */
async function startServer(mode: 'vmkeep' | 'bare', body?: string): Promise<ServerChild> {
  const child: ChildProcess = fork(SERVER_SCRIPT, [mode], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ type: 'stop' } satisfies ApiServerRequest);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    if (body !== undefined) child.send({ type: 'body', json: body } satisfies ApiServerRequest);
    const ready = await Promise.race([
      once(child, 'message').then(([m]) => m as ApiServerReady),
      exited.then(([code]) => {
        throw new Error(`api-server.ts ${mode} exited with ${code} before listening`);
      }),
    ]);
    return { ready, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The result as the report's section. */
export function apiReport(r: ApiBenchResult): string {
  const rows: string[][] = [];
  const cells = (row: ApiRow, ratio: string) => [
    row.label,
    fmt(row.requestsPerSecond),
    fmt(row.p50Ms, 1),
    fmt(row.p99Ms, 1),
    fmt(row.requests),
    fmt(row.bad),
    ratio,
  ];
  if (r.vmkeep) {
    rows.push(cells(r.vmkeep, fmt(r.vmkeep.requestsPerSecond / r.bare.requestsPerSecond, 2)));
  } else {
    rows.push([
      'vmkeep: GET /instances/{id}/snapshot-schedule',
      `not measured: ${r.skipped}`,
      '',
      '',
      '',
      '',
      '',
    ]);
  }
  rows.push(cells(r.bare, '1.00'));
  const o = r.options;
  return [
    `autocannon in the bench process, server in a child process, 127.0.0.1, ${o.connections} ` +
      `connections, ${o.warmupS} s warm-up then ${o.durationS} s each; ${fmt(r.responseBytes)} ` +
      'byte JSON response; vmkeep checks the bearer token and validates the request against the spec.',
    '',
    table(['server', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx/errors', 'ratio'], rows),
  ].join('\n');
}
