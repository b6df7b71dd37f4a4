/**
 * The "world" the schedule cases run against. Case bodies speak only this interface (HTTP-like
 * replies, snapshots as the API lists them, time moved by the test), so the same cases can run
 * against the domain here and, later, end to end over HTTP with the mock hypervisor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { DomainError, statusOf } from '../../src/domain/errors.js';
import { parseDuration } from '../../src/domain/schedules/duration.js';
import { ScheduleService } from '../../src/domain/schedules/schedule-service.js';
import { ScheduleStore } from '../../src/domain/schedules/schedule-store.js';
import { Scheduler, type SchedulerOptions } from '../../src/domain/schedules/scheduler.js';
import { type Db, openDatabase } from '../../src/store/db.js';
import { FakeClock } from './fake-clock.js';
import { FakeInstances, FakeSnapshots, type Fault } from './schedule-fakes.js';
import { assertScheduleInvariants } from './schedule-invariants.js';

/** A reply as a client sees it: status and the parsed JSON body (undefined for 204). */
export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: replies are untyped JSON, read field by field
  body: any;
}

/** A snapshot as `GET /snapshots` lists it (the fields the cases look at). */
export interface SnapshotInfo {
  id: string;
  name: string | null;
  kind: string;
  created_at: string;
  tags: Record<string, string>;
  source_instance_id: string;
  schedule: { instance_id: string } | null;
}

export interface ScheduleWorld {
  now(): number;
  /** Moves time to an instant (ISO string or epoch ms), letting every due run happen. */
  advanceTo(time: string | number): Promise<void>;
  advance(ms: number): Promise<void>;
  /** Waits until no run is in flight and the scheduler sleeps. */
  settle(): Promise<void>;

  addInstance(id: string, state?: string): Promise<void>;
  deleteInstance(id: string): Promise<void>;

  putSchedule(instanceId: string, body: unknown): Promise<Reply>;
  getSchedule(instanceId: string): Promise<Reply>;
  deleteSchedule(instanceId: string): Promise<Reply>;

  createSnapshot(
    instanceId: string,
    body: { name: string; tags?: Record<string, string> },
  ): Promise<Reply>;
  getSnapshot(snapshotId: string): Promise<Reply>;
  /** The instance's snapshots, oldest first. */
  listSnapshots(instanceId: string): Promise<SnapshotInfo[]>;

  /** Stops the server (or finds it dead after a simulated crash) and starts a new one. */
  restart(): Promise<void>;
  /** Stops the server; time can then pass with nothing running, until `startServer`. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;

  failCapture(instanceId: string, fault: Fault, call?: number | 'every'): void;
  clearCaptureFaults(instanceId: string): void;
  failDelete(snapshotId: string, error: Error, times?: number): void;

  /** Every schedule response seen, for the timestamp invariant (I7). */
  readonly scheduleReplies: Reply[];
  /** Ids of manual snapshots created through the world and not deleted by the test (I5). */
  readonly manualSnapshotIds: Set<string>;
  /** Deletions retention made: which snapshot, and whose schedule provenance it had (I5). */
  retentionDeletions(): Array<{ snapshotId: string; provenance: string | null }>;
  /** Instance ids the case touched. */
  readonly instanceIds: Set<string>;
}

export interface DomainWorldOptions
  extends Partial<Omit<SchedulerOptions, 'store' | 'clock' | 'instances' | 'snapshots'>> {
  start?: string;
  /** The PUT minimum interval (default 1s, as tests use). */
  minInterval?: string;
  /** Cadence jitter (default off, so the cases' wall-clock expectations hold literally). */
  jitter?: boolean;
}

/** The schedule domain with fake ports on a real temp SQLite database. */
export class DomainScheduleWorld implements ScheduleWorld {
  readonly clock: FakeClock;
  readonly instances = new FakeInstances();
  readonly snapshots: FakeSnapshots;
  readonly scheduleReplies: Reply[] = [];
  readonly manualSnapshotIds = new Set<string>();
  readonly instanceIds = new Set<string>();
  /** Snapshot ids retention deleted, across restarts, from the schedulers' events. */
  private readonly retentionDeleted: string[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'vmkeep-schedules-'));
  db!: Db;
  store!: ScheduleStore;
  service!: ScheduleService;
  scheduler!: Scheduler;

  constructor(readonly options: DomainWorldOptions = {}) {
    this.clock = new FakeClock(options.start ?? '2025-03-01T00:00:00Z');
    this.snapshots = new FakeSnapshots(this.clock, this.instances);
    this.boot();
  }

  get dbPath(): string {
    return join(this.dir, 'vmkeep.db');
  }

  /** Opens the database and starts a service and a scheduler on it, as a server start does. */
  private boot(overrides: Partial<DomainWorldOptions> = {}): void {
    const options = { ...this.options, ...overrides };
    this.db = openDatabase(this.dbPath);
    this.store = new ScheduleStore(this.db);
    this.scheduler = new Scheduler({
      maxSleepMs: 1_000,
      captureTimeoutMs: 10 * 60_000,
      leaseOwner: 'world-server',
      ...options,
      store: this.store,
      clock: this.clock,
      instances: this.instances,
      snapshots: this.snapshots,
    });
    this.scheduler.events.on('retention-deleted', (event) => {
      this.retentionDeleted.push(event.snapshotId);
    });
    this.service = new ScheduleService({
      store: this.store,
      clock: this.clock,
      instances: this.instances,
      minIntervalNs: parseDuration(options.minInterval ?? '1s'),
      jitter: options.jitter ?? false,
      onChange: () => this.scheduler.wake(),
    });
    this.scheduler.start();
  }

  now(): number {
    return this.clock.now();
  }

  async advanceTo(time: string | number): Promise<void> {
    await this.clock.advanceTo(time);
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  settle(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  async addInstance(id: string, state = 'Running'): Promise<void> {
    this.instances.add(id, state);
    this.instanceIds.add(id);
  }

  async deleteInstance(id: string): Promise<void> {
    this.instances.remove(id);
  }

  async putSchedule(instanceId: string, body: unknown): Promise<Reply> {
    return this.scheduleReply(() => ({ status: 200, body: this.service.put(instanceId, body) }));
  }

  async getSchedule(instanceId: string): Promise<Reply> {
    return this.scheduleReply(() => ({ status: 200, body: this.service.get(instanceId) }));
  }

  async deleteSchedule(instanceId: string): Promise<Reply> {
    return this.scheduleReply(() => {
      this.service.delete(instanceId);
      return { status: 204, body: undefined };
    });
  }

  async createSnapshot(
    instanceId: string,
    body: { name: string; tags?: Record<string, string> },
  ): Promise<Reply> {
    const reply = reply201(() => this.snapshots.createManual(instanceId, body));
    if (reply.status === 201) this.manualSnapshotIds.add(reply.body.id);
    return reply;
  }

  async getSnapshot(snapshotId: string): Promise<Reply> {
    const snapshot = this.snapshots.snapshots.get(snapshotId);
    if (!snapshot)
      return { status: 404, body: { code: 'not_found', message: 'snapshot not found' } };
    return { status: 200, body: wire(snapshot) };
  }

  async listSnapshots(instanceId: string): Promise<SnapshotInfo[]> {
    return wire(this.snapshots.listBySource(instanceId));
  }

  async restart(overrides: Partial<DomainWorldOptions> = {}): Promise<void> {
    await this.stopServer();
    await this.startServer(overrides);
  }

  async stopServer(): Promise<void> {
    await this.scheduler.stop();
    if (this.db.open) this.db.close();
  }

  async startServer(overrides: Partial<DomainWorldOptions> = {}): Promise<void> {
    this.boot(overrides);
  }

  failCapture(instanceId: string, fault: Fault, call: number | 'every' = 'every'): void {
    this.snapshots.failCapture(instanceId, fault, call);
  }

  clearCaptureFaults(instanceId: string): void {
    this.snapshots.clearCaptureFaults(instanceId);
  }

  failDelete(snapshotId: string, error: Error, times = 1): void {
    this.snapshots.failDelete(snapshotId, error, times);
  }

  retentionDeletions(): Array<{ snapshotId: string; provenance: string | null }> {
    return this.snapshots.log
      .filter((entry) => entry.op === 'delete')
      .map((entry) => ({
        snapshotId: entry.snapshotId ?? '',
        provenance: entry.provenance ?? null,
      }));
  }

  /** Scheduled snapshot names of an instance, oldest first. */
  async scheduledNames(instanceId: string): Promise<Array<string | null>> {
    return (await this.listSnapshots(instanceId)).filter((s) => s.schedule).map((s) => s.name);
  }

  async dispose(): Promise<void> {
    await this.stopServer();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private scheduleReply(fn: () => Reply): Reply {
    const reply = asReply(fn);
    this.scheduleReplies.push(reply);
    return reply;
  }
}

function reply201(fn: () => unknown): Reply {
  return asReply(() => ({ status: 201, body: fn() }));
}

/** Runs a domain call the way the server's one error handler answers it. */
function asReply(fn: () => Reply): Reply {
  try {
    const reply = fn();
    return { status: reply.status, body: reply.body === undefined ? undefined : wire(reply.body) };
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return {
      status: statusOf[error.code],
      body: wire({ code: error.code, message: error.message }),
    };
  }
}

/** What a client receives: the JSON round trip drops undefined keys and would choke on bigint. */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Gives each test a fresh world (`const world = newWorld({...})`) and, after it, checks the
 * global invariants and disposes of the world.
 */
export function useScheduleWorld(
  defaults: DomainWorldOptions = {},
): (options?: DomainWorldOptions) => DomainScheduleWorld {
  let current: DomainScheduleWorld | undefined;
  afterEach(async () => {
    const world = current;
    current = undefined;
    if (!world) return;
    try {
      await assertScheduleInvariants(world);
    } finally {
      await world.dispose();
    }
  });
  return (options = {}) => {
    current = new DomainScheduleWorld({ ...defaults, ...options });
    return current;
  };
}
