/**
 * The scheduler: a timer, not a poll. It sleeps on the injected clock until the earliest
 * `next_run_at` (waking at least every `maxSleepMs` to notice other processes' changes and
 * clock jumps, and at once on `wake()`), then starts every due run. Runs on one instance never
 * overlap; at most `maxConcurrentCaptures` guests are captured at once; a capture is abandoned
 * after `captureTimeoutMs`. What one run does, step by step, is in schedule-run.ts.
 *
 * Known limits: a capture that ignores its abort signal keeps going in the background after
 * the run failed on its timeout (its snapshot, if any, is left to retention); and after the
 * wall clock moves backwards, `last_run_at` can be later than `next_run_at` until the next run.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import { newId } from '../ids.js';
import { maxJitterNs, rearmAfterClockJump } from './cadence.js';
import { durationToMs } from './duration.js';
import type { InstancePort, SchedulerLogger, SnapshotPort } from './ports.js';
import { type RunContext, runSchedule } from './schedule-run.js';
import type { ScheduleRecord, ScheduleStore } from './schedule-store.js';
import { type CrashPoint, SchedulerEvents, SimulatedCrash } from './scheduler-events.js';
import { Semaphore } from './semaphore.js';

export interface SchedulerOptions {
  store: ScheduleStore;
  clock: Clock;
  instances: InstancePort;
  snapshots: SnapshotPort;
  logger?: SchedulerLogger;
  /** Guests captured at once across all instances (default 2). */
  maxConcurrentCaptures?: number;
  /** A capture still running after this is aborted and its run fails (default 10 min). */
  captureTimeoutMs?: number;
  /**
   * This process's id in run leases. Keep it stable across restarts of one server (its own
   * unfinished runs are then failed at once at start) and distinct between processes sharing a
   * data dir. Default: host name and process id.
   */
  leaseOwner?: string;
  /** How long past the capture timeout a lease lasts before others take the run for dead. */
  leaseMarginMs?: number;
  /** The longest sleep between passes (default 5 s). */
  maxSleepMs?: number;
  /** How long a stored schedule that cannot run (say a `0s` interval) waits between attempts. */
  defectRetryMs?: number;
  /** Most runs one pass starts; the rest start on the pass right after. */
  maxRunsPerPass?: number;
  /** Test hook: called at each named point of a run; throwing simulates a kill there. */
  onCrashPoint?: (point: CrashPoint) => void;
}

/** Message a run left `running` by a dead process gets, on the run and the schedule. */
export const INTERRUPTED_ERROR =
  'interrupted: the server stopped during this scheduled run; its snapshot may be missing';

const silentLogger: SchedulerLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class Scheduler {
  /** Typed events: run-started, run-succeeded, run-failed, run-skipped, retention-deleted … */
  readonly events = new SchedulerEvents();

  private readonly options: Required<Omit<SchedulerOptions, 'onCrashPoint' | 'logger'>>;
  private readonly logger: SchedulerLogger;
  private readonly onCrashPoint: SchedulerOptions['onCrashPoint'];
  private readonly captures: Semaphore;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Instances whose run broke unexpectedly, and when to try them again. */
  private readonly backoffUntil = new Map<string, number>();
  private readonly stopController = new AbortController();
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private sleeper?: AbortController;
  private sleeping = false;
  /** When the current sleep ends, on the injected clock. */
  private sleepingUntil = Number.NEGATIVE_INFINITY;
  private wakePending = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastNow = Number.NEGATIVE_INFINITY;
  private crashed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(options: SchedulerOptions) {
    this.options = {
      store: options.store,
      clock: options.clock,
      instances: options.instances,
      snapshots: options.snapshots,
      maxConcurrentCaptures: options.maxConcurrentCaptures ?? 2,
      captureTimeoutMs: options.captureTimeoutMs ?? 10 * 60_000,
      leaseOwner: options.leaseOwner ?? `${hostname()}:${process.pid}`,
      leaseMarginMs: options.leaseMarginMs ?? 60_000,
      maxSleepMs: options.maxSleepMs ?? 5_000,
      defectRetryMs: options.defectRetryMs ?? 60_000,
      maxRunsPerPass: options.maxRunsPerPass ?? 256,
    };
    this.logger = options.logger ?? silentLogger;
    this.onCrashPoint = options.onCrashPoint;
    this.captures = new Semaphore(this.options.maxConcurrentCaptures);
    // Every run queued for a capture slot listens on it; thousands may wait at once.
    setMaxListeners(0, this.stopController.signal);
  }

  /**
   * Starts the loop. First fails the runs a previous life of this process (or a process whose
   * lease expired) left `running`, so their schedules say "interrupted" (BB-01 variant B), and
   * re-arms schedules a clock set back during the downtime left stranded.
   */
  start(): void {
    if (this.state !== 'new') throw new Error(`scheduler cannot start: it is ${this.state}`);
    const now = this.options.clock.now();
    this.failInterrupted(now, this.options.leaseOwner);
    this.rearmStranded(now);
    this.state = 'running';
    this.loopDone = this.loop();
  }

  /** Re-reads the schedules now: after a PUT or DELETE, or to deliver a tick in tests. */
  wake(): void {
    if (this.state !== 'running') return;
    this.wakePending = true;
    this.sleeper?.abort();
  }

  /**
   * Stops: no new run starts, a run still waiting for a capture slot gives up, runs already
   * capturing finish (bounded by the capture timeout). Resolves when all is quiet.
   */
  async stop(): Promise<void> {
    if (this.state === 'running') this.state = 'stopping';
    this.stopController.abort(new Error('scheduler stopping'));
    this.sleeper?.abort();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight.values()]);
    this.state = 'stopped';
    this.notifyIdle();
  }

  /** Resolves once no run is in flight and the loop is asleep (or stopped). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Instance ids with a run in flight right now. */
  get runningInstances(): string[] {
    return [...this.inFlight.keys()];
  }

  private async loop(): Promise<void> {
    while (this.state === 'running') {
      this.wakePending = false;
      try {
        this.pass();
      } catch (error) {
        // A pass that cannot read the database (disk gone, locked too long) must not kill the
        // loop: log it once per pass and try again after the usual sleep.
        this.logger.error({ err: error }, 'scheduler pass failed');
      }
      if (this.wakePending || this.state !== 'running') continue;
      this.sleeper = new AbortController();
      const sleepMs = this.sleepMs();
      this.sleepingUntil = this.options.clock.now() + sleepMs;
      this.sleeping = true;
      this.notifyIdle();
      await this.options.clock.sleep(sleepMs, this.sleeper.signal).catch(() => {});
      this.sleeping = false;
    }
  }

  /** One look at the schedules: recover dead runs, fix clock jumps, start what is due. */
  private pass(): void {
    const { store, clock } = this.options;
    const now = clock.now();
    if (now < this.lastNow) this.rearmStranded(now);
    this.lastNow = now;
    this.failInterrupted(now);

    const due = store.listDue(now, this.busyInstances(now), this.options.maxRunsPerPass);
    for (const schedule of due) this.startRun(schedule);
    this.events.emit('tick', { at: now, started: due.length });
  }

  private startRun(schedule: ScheduleRecord): void {
    const { instanceId } = schedule;
    const task = runSchedule(this.runContext(), schedule)
      .catch((error: unknown) => {
        if (error instanceof SimulatedCrash) return;
        // Only a bug or a database failure gets here (a run records its own failures); back off
        // so the schedule, which may still be due, is not retried in a tight loop.
        this.logger.error({ instanceId, err: error }, 'scheduled run broke');
        this.backoffUntil.set(instanceId, this.options.clock.now() + this.options.maxSleepMs);
      })
      .finally(() => {
        this.inFlight.delete(instanceId);
        this.wakeIfDueSooner(instanceId);
        this.notifyIdle();
      });
    this.inFlight.set(instanceId, task);
  }

  private runContext(): RunContext {
    return {
      ...this.options,
      logger: this.logger,
      events: this.events,
      captures: this.captures,
      stopSignal: this.stopController.signal,
      createId: newId,
      checkpoint: (point) => this.checkpoint(point),
    };
  }

  /** Simulated kills: once crashed, the scheduler writes nothing more and its loop ends. */
  private checkpoint(point?: CrashPoint): void {
    if (!this.crashed && point && this.onCrashPoint) {
      try {
        this.onCrashPoint(point);
      } catch {
        this.crashed = true;
        this.state = 'stopped';
        this.sleeper?.abort();
        throw new SimulatedCrash(point);
      }
    }
    if (this.crashed) throw new SimulatedCrash();
  }

  /**
   * After a run on `instanceId` ended. The loop's sleep left that instance out while it was
   * busy, so it wakes early only if that schedule is now due before the sleep ends (a run
   * slower than its interval, a backoff). Waking after every run instead costs a pass per run:
   * at 170 runs a second, most of a core.
   */
  private wakeIfDueSooner(instanceId: string): void {
    if (this.backoffUntil.has(instanceId)) {
      this.wake();
      return;
    }
    try {
      const next = this.options.store.get(instanceId)?.nextRunAt;
      if (next !== undefined && next < this.sleepingUntil) this.wake();
    } catch {
      // The pass reports a database that cannot be read.
      this.wake();
    }
  }

  /** How long to sleep: until the earliest slot of an instance that is not busy, capped. */
  private sleepMs(): number {
    const now = this.options.clock.now();
    const busy = this.busyInstances(now);
    const earliest = this.options.store.earliestNextRunAt(busy);
    const backoffEnds = [...this.backoffUntil.values()].filter((at) => at > now);
    const wakeAt = Math.min(earliest ?? Number.POSITIVE_INFINITY, ...backoffEnds);
    return Math.max(0, Math.min(wakeAt - now, this.options.maxSleepMs));
  }

  /** Instances not to start a run on: one in flight, or backing off after a broken run. */
  private busyInstances(now: number): string[] {
    for (const [id, until] of this.backoffUntil) if (until <= now) this.backoffUntil.delete(id);
    return [...this.inFlight.keys(), ...this.backoffUntil.keys()];
  }

  private failInterrupted(now: number, previousOwner?: string): void {
    for (const run of this.options.store.failInterrupted(now, INTERRUPTED_ERROR, previousOwner)) {
      this.logger.warn({ instanceId: run.instanceId, runId: run.id }, 'run was interrupted');
      this.events.emit('run-failed', {
        instanceId: run.instanceId,
        scheduleId: run.scheduleId,
        runId: run.id,
        error: INTERRUPTED_ERROR,
      });
    }
  }

  /** After the wall clock went back, pulls stranded schedules onto their first slot after now. */
  private rearmStranded(now: number): void {
    const { store } = this.options;
    for (const schedule of store.listStrandedAhead(now)) {
      const intervalMs = durationToMs(schedule.intervalNs);
      const maxJitterMs = durationToMs(maxJitterNs(schedule.intervalNs));
      const next = rearmAfterClockJump(schedule.nextRunAt, intervalMs, now, maxJitterMs);
      if (next === schedule.nextRunAt) continue;
      if (store.moveNextRun(schedule.scheduleId, schedule.nextRunAt, next, now)) {
        this.logger.warn(
          { instanceId: schedule.instanceId, from: schedule.nextRunAt, to: next },
          'the clock moved backwards; schedule re-armed',
        );
      }
    }
  }

  private isIdle(): boolean {
    const loopQuiet = this.sleeping || this.state === 'stopped' || this.state === 'new';
    return loopQuiet && !this.wakePending && this.inFlight.size === 0;
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
