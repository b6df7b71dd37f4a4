/**
 * Supervision of one VMM process. The VMM is spawned detached, with its output appended to files
 * in the run dir, so it outlives the server (guests keep running across a server restart) and
 * its last words survive its exit. A later server finds it again through the pid file, after
 * checking that the pid still names the same process.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../logger.js';
import type { VmExit } from '../types.js';
import { writeAtomically } from './atomic-write.js';
import { readCmdline, readStat } from './proc.js';

/** What the run dir's `vmm.json` records about the process. */
export interface VmmRecord {
  pid: number;
  /** Start time from /proc/<pid>/stat, in clock ticks after boot: tells pid reuse apart. */
  startTicks: number;
  binary: string;
  /** A string in the process's argv (its control socket path) that a re-attach checks. */
  identity: string;
  startedAt: string;
  /** Driver facts needed after a re-attach (machine type, accel, socket paths …). */
  meta: Record<string, unknown>;
}

export interface VmmSpawnOptions {
  binary: string;
  args: string[];
  runDir: string;
  identity: string;
  meta?: Record<string, unknown>;
  logger?: Logger;
}

export const PID_FILE = 'vmm.pid';
export const RECORD_FILE = 'vmm.json';
export const STDOUT_FILE = 'vmm.stdout.log';
export const STDERR_FILE = 'vmm.stderr.log';

const ATTACHED_POLL_MS = 100;
const TAIL_LINES = 20;

export class VmmProcess {
  readonly exited: Promise<VmExit>;
  #hasExited = false;
  #stopWatching = () => {};

  private constructor(
    readonly record: VmmRecord,
    readonly runDir: string,
    /** Offset in the stderr file where this process's output starts. */
    private readonly stderrOffset: number,
    private readonly logger: Logger,
    childExit?: Promise<Omit<VmExit, 'stderrTail'>>,
  ) {
    this.exited = (childExit ?? this.#pollPid()).then(async (exit) => {
      this.#hasExited = true;
      const full = { ...exit, stderrTail: await this.stderrTail() };
      this.logger.info({ pid: record.pid, code: full.code, signal: full.signal }, 'vmm exited');
      return full;
    });
  }

  get pid(): number {
    return this.record.pid;
  }

  /** True once the process is known to be gone. */
  get hasExited(): boolean {
    return this.#hasExited;
  }

  /**
   * Starts the VMM detached from the server, writes `vmm.pid` and `vmm.json`, and returns once
   * the process exists (not once it is ready: see `connectUnixSocket`).
   */
  static async spawn(opts: VmmSpawnOptions): Promise<VmmProcess> {
    const logger = opts.logger ?? silentLogger;
    const stderrPath = join(opts.runDir, STDERR_FILE);
    const out = await open(join(opts.runDir, STDOUT_FILE), 'a');
    const err = await open(stderrPath, 'a');
    const stderrOffset = (await err.stat()).size;
    const child = spawn(opts.binary, opts.args, {
      cwd: opts.runDir,
      detached: true,
      stdio: ['ignore', out.fd, err.fd],
    });
    // Listen at once: a VMM that dies during the awaits below must not slip past unnoticed.
    const childExit = new Promise<Omit<VmExit, 'stderrTail'>>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await once(child, 'spawn');
    } finally {
      // The child holds its own copies of the descriptors.
      await Promise.all([out.close(), err.close()]);
    }
    // Without unref the server could never exit while a guest runs.
    child.unref();
    const pid = child.pid!;
    const record: VmmRecord = {
      pid,
      startTicks: (await readStat(pid))?.startTicks ?? 0,
      binary: opts.binary,
      identity: opts.identity,
      startedAt: new Date().toISOString(),
      meta: opts.meta ?? {},
    };
    await writeAtomically(join(opts.runDir, RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
    await writeAtomically(join(opts.runDir, PID_FILE), `${pid}\n`);
    logger.info({ pid, binary: opts.binary }, 'vmm spawned');
    return new VmmProcess(record, opts.runDir, stderrOffset, logger, childExit);
  }

  /**
   * Finds the VMM a previous server left in `runDir`. Returns undefined when there is none, it
   * has exited, or the pid now belongs to another process.
   */
  static async attach(
    runDir: string,
    logger: Logger = silentLogger,
  ): Promise<VmmProcess | undefined> {
    let record: VmmRecord;
    try {
      record = JSON.parse(await readFile(join(runDir, RECORD_FILE), 'utf8'));
    } catch {
      return undefined;
    }
    if (!(await isSameProcess(record))) return undefined;
    const size = await stat(join(runDir, STDERR_FILE)).then(
      (s) => s.size,
      () => 0,
    );
    logger.info({ pid: record.pid }, 'vmm re-attached');
    return new VmmProcess(record, runDir, Math.max(0, size - 8192), logger);
  }

  /** The last lines the VMM wrote to stderr since it started. */
  async stderrTail(lines = TAIL_LINES): Promise<string> {
    let text: string;
    try {
      const file = await open(join(this.runDir, STDERR_FILE), 'r');
      try {
        const { size } = await file.stat();
        const start = Math.max(this.stderrOffset, size - 16_384);
        const buffer = Buffer.alloc(Math.max(0, size - start));
        await file.read(buffer, 0, buffer.length, start);
        text = buffer.toString('utf8');
      } finally {
        await file.close();
      }
    } catch {
      return '';
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Sends `signal` to the process; false when it is already gone. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.#hasExited) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * SIGTERM, then after `graceMs` SIGKILL to its whole process group (QEMU's `exec:` helpers
   * too); resolves once the process is gone.
   */
  async kill(opts: { graceMs?: number } = {}): Promise<VmExit> {
    if (this.#hasExited) return this.exited;
    this.signal('SIGTERM');
    if (await settlesWithin(this.exited, opts.graceMs ?? 3000)) return this.exited;
    this.logger.warn({ pid: this.pid }, 'vmm ignored SIGTERM, sending SIGKILL');
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      this.signal('SIGKILL');
    }
    if (await settlesWithin(this.exited, 10_000)) return this.exited;
    throw new Error(`process ${this.pid} is still alive 10 s after SIGKILL`);
  }

  /** Stops watching an attached process (it keeps running); a spawned child needs nothing. */
  dispose(): void {
    this.#stopWatching();
  }

  /** A process that is not our child gives no exit event: poll until it is gone. */
  async #pollPid(): Promise<Omit<VmExit, 'stderrTail'>> {
    const controller = new AbortController();
    this.#stopWatching = () => controller.abort();
    while (await isSameProcess(this.record)) {
      try {
        await sleep(ATTACHED_POLL_MS, undefined, { signal: controller.signal });
      } catch {
        // Disposed: the promise stays pending, like the process it describes.
        return new Promise(() => {});
      }
    }
    return { code: null, signal: null };
  }
}

/** True when `record.pid` is alive and is still the process the record describes. */
async function isSameProcess(record: VmmRecord): Promise<boolean> {
  const stat = await readStat(record.pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  if (record.startTicks && stat.startTicks !== record.startTicks) return false;
  const argv = await readCmdline(record.pid);
  return argv?.some((arg) => arg.includes(record.identity)) ?? false;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const controller = new AbortController();
  const timeout = sleep(ms, false, { signal: controller.signal }).catch(() => false);
  const won = await Promise.race([promise.then(() => true), timeout]);
  controller.abort();
  return won;
}
