/**
 * The schedule cases' world (`ScheduleWorld`) as a whole vmkeep server: the real app from
 * `createApp` over `createServices` on a temp data dir (SQLite, payload files, reconcile, the
 * scheduler), the mock hypervisor with its call log and faults, and a fake clock. Every
 * request, schedules, instances and snapshots alike, goes through the app (`app.request`),
 * with its authentication, validation and error handling.
 *
 * Cases name instances by alias (`inst_A`); `id(alias)` is the instance's real id, which is
 * what responses carry. Restarts build a new server on the same data dir; `kill()` ends one
 * the way a crash would (it writes nothing more).
 *
 * Limits: faults are armed on the running server's mock driver and do not survive a restart;
 * and time moves only when the server waits on it, as judged by `TimeStepper`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockDriver } from '@vmkeep/hypervisor';
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import type { Hono } from 'hono';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { signToken } from '../../src/auth.js';
import { loadConfig, type ServerConfig } from '../../src/config.js';
import { capabilitiesOf, createServices, type Services } from '../../src/services.js';
import { SteppedClock } from './http-clock.js';
import { RunStateLog, ServerProbe } from './http-server-probe.js';
import { snapshotsBegun, toMockFault } from './http-world-helpers.js';
import { TimeStepper } from './http-world-stepper.js';
import type { Fault } from './schedule-fakes.js';
import type { Reply, ScheduleWorld, SnapshotInfo } from './schedule-world.js';

const SECRET = new TextEncoder().encode('http-schedule-world-secret-0123456789');

/** A reply with the response's content type. */
export interface HttpReply extends Reply {
  contentType: string | null;
}

export interface HttpWorldOptions {
  /** Clock start (default `2025-03-01T00:00:00Z`). */
  start?: string;
  /** Extra server environment, e.g. `VMKEEP_CAPTURE_TIMEOUT`. */
  env?: Record<string, string>;
}

/** One server process's worth of parts. */
interface Server {
  services: Services;
  app: Hono;
  driver: MockDriver;
  probe: ServerProbe;
}

export class HttpScheduleWorld implements ScheduleWorld {
  readonly clock: SteppedClock;
  readonly root = mkdtempSync(join(tmpdir(), 'vmkeep-http-schedules-'));
  readonly config: ServerConfig;
  readonly scheduleReplies: HttpReply[] = [];
  readonly manualSnapshotIds = new Set<string>();
  /** Real ids of the instances the case made. */
  readonly instanceIds = new Set<string>();
  /** Every mock driver booted, oldest first; each keeps its own call log (I3). */
  readonly drivers: MockDriver[] = [];
  /** The instance's state at the start and end of every scheduled run (I4). */
  readonly runStates = new RunStateLog();
  /** Snapshot id → the instance whose schedule took it (null: manual); across restarts. */
  readonly provenance = new Map<string, string | null>();
  /** Deletions retention made, from the schedulers' events (I5). */
  readonly deletions: Array<{ snapshotId: string; provenance: string | null }> = [];
  /** Payload removals to fail: snapshot id → errors still to throw (H3). */
  readonly deleteFaults = new Map<string, Error[]>();
  private readonly aliases = new Map<string, string>();
  private readonly disarms = new Map<string, Array<() => void>>();
  private readonly dying: Promise<void>[] = [];
  private current?: Server;
  private token = '';
  private readonly time: TimeStepper;

  private constructor(options: HttpWorldOptions) {
    this.clock = new SteppedClock(options.start ?? '2025-03-01T00:00:00Z');
    this.time = new TimeStepper(this.clock, {
      probe: () => this.current?.probe,
      progressMark: () => this.progressMark(),
    });
    this.config = loadConfig({
      VMKEEP_DATA_DIR: join(this.root, 'data'),
      VMKEEP_CACHE_DIR: join(this.root, 'cache'),
      VMKEEP_MIN_SCHEDULE_INTERVAL: '1s',
      VMKEEP_MOCK_HYPERVISOR: '1',
      VMKEEP_SCHEDULE_JITTER: '0',
      ...options.env,
    });
  }

  /** A world with a server running and the `default` image registered. */
  static async create(options: HttpWorldOptions = {}): Promise<HttpScheduleWorld> {
    const world = new HttpScheduleWorld(options);
    world.token = await signToken(SECRET, { ttlMs: 365 * 86_400_000, nowMs: world.now() });
    await world.startServer();
    // What `main` does at start with the guest setup built; the mock only needs the files.
    const host = join(world.root, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'vmlinuz'), 'a kernel');
    writeFileSync(join(host, 'initrd'), 'an initrd');
    await world.services.images.ensureDefault({
      kernel: join(host, 'vmlinuz'),
      initrd: join(host, 'initrd'),
    });
    return world;
  }

  /** The running server's services (throws while it is down). */
  get services(): Services {
    return this.server().services;
  }

  /** The running server's mock driver: its call log and faults. */
  get driver(): MockDriver {
    return this.server().driver;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  /** The real id of an instance the case named `alias`; any other ref is passed through. */
  id(ref: string): string {
    return this.aliases.get(ref) ?? ref;
  }

  now(): number {
    return this.clock.now();
  }

  // --- time -------------------------------------------------------------------------------

  /** Moves time to `time`, one due timer at a time, letting the server finish each step. */
  advanceTo(time: string | number): Promise<void> {
    return this.time.advanceTo(typeof time === 'number' ? time : Date.parse(time));
  }

  advance(ms: number): Promise<void> {
    return this.time.advanceTo(this.now() + ms);
  }

  /** Waits until the server has done all it can without time moving (see TimeStepper). */
  settle(): Promise<void> {
    return this.time.settle();
  }

  /** Awaits `work`, moving time whenever all that is left waits on the clock. */
  drive<T>(work: Promise<T>): Promise<T> {
    return this.time.drive(work);
  }

  // --- HTTP -------------------------------------------------------------------------------

  /** One request to the app, authenticated unless `headers` says otherwise. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpReply> {
    const init: RequestInit = {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const response = await this.server().app.request(path, init);
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : JSON.parse(text),
      contentType: response.headers.get('Content-Type'),
    };
  }

  /** The vmkeep SDK, sending its requests to the running server (whichever it is by then). */
  client(onRequest?: (request: Request) => void): VmkeepClient {
    return createClient({
      baseUrl: 'http://vmkeep.test',
      token: this.token,
      fetch: (request) => {
        onRequest?.(request.clone());
        return this.server().app.fetch(request);
      },
    });
  }

  /** A request that must answer `status`; anything else fails the test with the reply. */
  async expect(status: number, method: string, path: string, body?: unknown): Promise<HttpReply> {
    const reply = await this.request(method, path, body);
    if (reply.status !== status) {
      throw new Error(`${method} ${path}: expected ${status}, got ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  schedulePath(ref: string): string {
    return `/instances/${encodeURIComponent(this.id(ref))}/snapshot-schedule`;
  }

  putSchedule(ref: string, body: unknown): Promise<HttpReply> {
    return this.scheduleRequest('PUT', ref, body);
  }

  getSchedule(ref: string): Promise<HttpReply> {
    return this.scheduleRequest('GET', ref);
  }

  deleteSchedule(ref: string): Promise<HttpReply> {
    return this.scheduleRequest('DELETE', ref);
  }

  private async scheduleRequest(method: string, ref: string, body?: unknown) {
    const reply = await this.request(method, this.schedulePath(ref), body);
    this.scheduleReplies.push(reply);
    return reply;
  }

  // --- instances and snapshots ------------------------------------------------------------

  /** Creates a mock instance named after `alias` (`inst_A` → `inst-a`), brought to `state`. */
  async addInstance(alias: string, state = 'Running'): Promise<void> {
    const name = alias.replace(/_/g, '-').toLowerCase();
    const created = await this.expect(201, 'POST', '/instances', {
      name,
      image: 'default',
      hypervisor: 'mock',
      size: '64MB',
    });
    const id: string = created.body.id;
    this.aliases.set(alias, id);
    this.instanceIds.add(id);
    const verb = { Stopped: 'stop', Paused: 'pause', Standby: 'standby' }[state];
    if (verb) await this.expect(200, 'POST', `/instances/${id}/${verb}`);
    const { body } = await this.getInstance(id);
    if (body.state !== state) throw new Error(`${alias} is ${body.state}, not ${state}`);
  }

  async deleteInstance(ref: string): Promise<void> {
    await this.expect(204, 'DELETE', `/instances/${encodeURIComponent(this.id(ref))}`);
  }

  /** `POST /instances/{id}/{verb}` */
  instanceVerb(ref: string, verb: 'start' | 'stop' | 'pause' | 'resume'): Promise<HttpReply> {
    return this.request('POST', `/instances/${encodeURIComponent(this.id(ref))}/${verb}`);
  }

  /** `GET /instances/{id}` */
  getInstance(ref: string): Promise<HttpReply> {
    return this.request('GET', `/instances/${encodeURIComponent(this.id(ref))}`);
  }

  /** `POST /instances/{id}/snapshots`: a manual snapshot. */
  async createSnapshot(
    ref: string,
    body: { name: string; tags?: Record<string, string> },
  ): Promise<HttpReply> {
    const path = `/instances/${encodeURIComponent(this.id(ref))}/snapshots`;
    const reply = await this.request('POST', path, body);
    if (reply.status === 201) this.manualSnapshotIds.add(reply.body.id);
    return reply;
  }

  getSnapshot(snapshotId: string): Promise<HttpReply> {
    return this.request('GET', `/snapshots/${encodeURIComponent(snapshotId)}`);
  }

  /** `DELETE /snapshots/{id}` by a user. */
  deleteSnapshot(snapshotId: string): Promise<HttpReply> {
    this.manualSnapshotIds.delete(snapshotId);
    return this.request('DELETE', `/snapshots/${encodeURIComponent(snapshotId)}`);
  }

  /** `GET /snapshots?source_instance_id=`: the instance's snapshots, oldest first. */
  async listSnapshots(ref: string): Promise<SnapshotInfo[]> {
    const query = new URLSearchParams({ source_instance_id: this.id(ref) });
    return (await this.expect(200, 'GET', `/snapshots?${query}`)).body;
  }

  /** Names of an instance's scheduled snapshots, oldest first. */
  async scheduledNames(ref: string): Promise<Array<string | null>> {
    return (await this.listSnapshots(ref)).filter((s) => s.schedule).map((s) => s.name);
  }

  // --- servers ----------------------------------------------------------------------------

  async restart(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  /** Stops the server as `main` does on SIGTERM (guests are kept running). */
  async stopServer(): Promise<void> {
    const server = this.current;
    if (!server) return;
    // What is running at this instant finishes first, as it would before a SIGTERM lands.
    await this.settle();
    this.current = undefined;
    server.probe.dead = true;
    await this.drive(server.services.close());
  }

  async startServer(): Promise<void> {
    const driver = new MockDriver({ clock: this.clock });
    const logger = pino({ level: 'silent' });
    const services = await createServices({
      config: this.config,
      logger,
      clock: this.clock,
      drivers: new Map([['mock', driver]]),
      skipDefaultImage: true,
    });
    const app = createApp({
      config: this.config,
      logger,
      clock: this.clock,
      jwtSecret: SECRET,
      capabilities: capabilitiesOf(services.drivers),
      services,
    });
    this.drivers.push(driver);
    this.current = { services, app, driver, probe: new ServerProbe(this, services, driver) };
  }

  /**
   * Ends the server as a crash would, from anywhere (an event listener included): its
   * scheduler starts nothing more and its database is closed, so it writes nothing more. The
   * guests (mock VMMs) live on, as real ones would, for the next server to re-attach.
   */
  kill(): void {
    const server = this.current;
    if (!server) return;
    this.current = undefined;
    server.probe.dead = true;
    this.dying.push(server.services.scheduler.stop().catch(() => undefined));
    server.services.domain.close();
    server.services.db.close();
  }

  // --- faults -----------------------------------------------------------------------------

  /**
   * Makes the mock's `snapshot` step (memory and disks, after the pause) misbehave for one
   * instance: on its `call`-th snapshot by this server (manual ones count), or on every one.
   */
  failCapture(ref: string, fault: Fault, call: number | 'every' = 'every'): void {
    const id = this.id(ref);
    const driver = this.driver;
    const disarm = driver.faults.inject('snapshot', toMockFault(fault), {
      times: call === 'every' ? Number.POSITIVE_INFINITY : 1,
      match: (target) =>
        target.runDir.includes(id) &&
        (call === 'every' || snapshotsBegun(driver, target.runDir) === call),
    });
    this.disarms.set(id, [...(this.disarms.get(id) ?? []), disarm]);
  }

  clearCaptureFaults(ref: string): void {
    for (const disarm of this.disarms.get(this.id(ref)) ?? []) disarm();
    this.disarms.delete(this.id(ref));
  }

  /** The next `times` removals of the snapshot's payload fail with `error`. */
  failDelete(snapshotId: string, error: Error, times = 1): void {
    this.deleteFaults.set(
      snapshotId,
      Array.from({ length: times }, () => error),
    );
  }

  retentionDeletions(): Array<{ snapshotId: string; provenance: string | null }> {
    return [...this.deletions];
  }

  async dispose(): Promise<void> {
    try {
      for (const driver of this.drivers) driver.faults.releaseHangs();
      await this.stopServer();
      await Promise.race([Promise.all(this.dying), new Promise((r) => setTimeout(r, 1_000))]);
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }

  private server(): Server {
    if (!this.current) throw new Error('the server is not running');
    return this.current;
  }

  private progressMark(): number {
    const calls = this.drivers.reduce((sum, d) => sum + d.calls.entries().length, 0);
    return this.clock.sleepsStarted + calls + (this.current?.probe.events ?? 0);
  }
}
