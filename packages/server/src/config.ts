/**
 * Server configuration, read once from the environment at start. Every value has a default
 * (DESIGN.md, "Operational interface"); an invalid one stops the start with a message naming
 * the variable and what it accepts.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { durationToMs, formatDuration, parseDuration } from './domain/schedules/duration.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerConfig {
  /** vmkeep's version (the server package's). */
  version: string;
  /** Absolute. `VMKEEP_DATA_DIR`, default `./data`. */
  dataDir: string;
  /** Absolute. `VMKEEP_CACHE_DIR`, default `$XDG_CACHE_HOME/vmkeep` or `~/.cache/vmkeep`. */
  cacheDir: string;
  /** `VMKEEP_HOST`, default `127.0.0.1`. */
  host: string;
  /** `VMKEEP_PORT`, default 8080; 0 picks a free port. */
  port: number;
  /** `VMKEEP_MIN_SCHEDULE_INTERVAL` in Go's canonical form, default `1m0s`. */
  minScheduleInterval: string;
  minScheduleIntervalMs: number;
  /** `VMKEEP_MOCK_HYPERVISOR=1` enables the `mock` hypervisor. */
  mockHypervisor: boolean;
  /** `VMKEEP_MAX_CONCURRENT_CAPTURES`, default 2: guests being captured at once. */
  maxConcurrentCaptures: number;
  /** `JWT_SECRET`; unset means the generated `<data>/jwt-secret`. */
  jwtSecret: string | undefined;
  /** `VMKEEP_LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /**
   * `VMKEEP_ON_EXIT`, default `keep`: what happens to running guests when the server stops.
   * `keep` leaves them running (the next start re-attaches them); `shutdown` powers them off.
   */
  onExit: 'keep' | 'shutdown';
  /** `VMKEEP_CAPTURE_TIMEOUT`, default `10m`: a scheduled capture still running is abandoned. */
  captureTimeoutMs: number;
  /**
   * `VMKEEP_SCHEDULE_JITTER`, default on: a new cadence is offset by a deterministic
   * per-instance jitter (as hypeman) so schedules created together do not fire together.
   */
  scheduleJitter: boolean;
}

/** Thrown for an environment variable with a value the server cannot use. */
export class ConfigError extends Error {
  constructor(variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

const serverVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(name, raw, `an integer from ${min} to ${max}`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(raw)) return false;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  throw new ConfigError(name, raw, '1 or 0');
}

function minInterval(env: NodeJS.ProcessEnv): { text: string; ms: number } {
  const raw = env.VMKEEP_MIN_SCHEDULE_INTERVAL || '1m';
  let ns: bigint;
  try {
    ns = parseDuration(raw);
  } catch {
    throw new ConfigError('VMKEEP_MIN_SCHEDULE_INTERVAL', raw, 'a Go duration such as 1m or 1s');
  }
  // Below a second the scheduler would spin; sub-second cadence is not a use case.
  if (ns < 1_000_000_000n) {
    throw new ConfigError('VMKEEP_MIN_SCHEDULE_INTERVAL', raw, 'a duration of at least 1s');
  }
  return { text: formatDuration(ns), ms: durationToMs(ns) };
}

function onExit(env: NodeJS.ProcessEnv): 'keep' | 'shutdown' {
  const raw = env.VMKEEP_ON_EXIT || 'keep';
  if (raw !== 'keep' && raw !== 'shutdown') {
    throw new ConfigError('VMKEEP_ON_EXIT', raw, 'keep or shutdown');
  }
  return raw;
}

function durationMs(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const raw = env[name] || fallback;
  try {
    const ns = parseDuration(raw);
    if (ns > 0n) return durationToMs(ns);
  } catch {
    // Reported below with the variable's name.
  }
  throw new ConfigError(name, raw, 'a positive Go duration such as 90s or 10m');
}

/** Reads the configuration from `env` (default `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const logLevel = (env.VMKEEP_LOG_LEVEL || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('VMKEEP_LOG_LEVEL', logLevel, LOG_LEVELS.join(', '));
  }
  const interval = minInterval(env);
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return {
    version: serverVersion,
    dataDir: resolve(env.VMKEEP_DATA_DIR || './data'),
    cacheDir: resolve(env.VMKEEP_CACHE_DIR || join(cacheHome, 'vmkeep')),
    host: env.VMKEEP_HOST || '127.0.0.1',
    port: integer(env, 'VMKEEP_PORT', 8080, 0, 65535),
    minScheduleInterval: interval.text,
    minScheduleIntervalMs: interval.ms,
    mockHypervisor: flag(env, 'VMKEEP_MOCK_HYPERVISOR'),
    maxConcurrentCaptures: integer(env, 'VMKEEP_MAX_CONCURRENT_CAPTURES', 2, 1, 64),
    jwtSecret: env.JWT_SECRET || undefined,
    logLevel,
    onExit: onExit(env),
    captureTimeoutMs: durationMs(env, 'VMKEEP_CAPTURE_TIMEOUT', '10m'),
    scheduleJitter: env.VMKEEP_SCHEDULE_JITTER === undefined || flag(env, 'VMKEEP_SCHEDULE_JITTER'),
  };
}
