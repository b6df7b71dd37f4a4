/**
 * What the HTTP world watches inside one server: the domain's and the scheduler's events (for
 * provenance, retention deletions, and the instance's state around each run), the payload file
 * operations (to know when I/O is still going on, and to make a payload removal fail, H3), and
 * whether anything still works that is not waiting on the clock.
 */
import type { MockDriver } from '@vmkeep/hypervisor';
import type { DomainContext } from '../../src/domain/instances/context.js';
import { instanceKey } from '../../src/domain/instances/resolve.js';
import { TRASH_PREFIX } from '../../src/domain/paths.js';
import type { SchedulerEventMap } from '../../src/domain/schedules/index.js';
import type { Services } from '../../src/services.js';

/** An instance's state (and state error) as a run found and left it. */
export interface InstanceStateSeen {
  state: string;
  stateError: string | null;
}

/** One scheduled run's view of its instance (invariant I4). */
export interface RunStates {
  runId: string;
  instanceId: string;
  before: InstanceStateSeen;
  /** Unset while the run is in flight, or if its server died during it. */
  after?: InstanceStateSeen;
}

/** A VM inside a delayed or hung mock call. */
interface FaultWait {
  /** Its call-log length when the wait began: any new entry means it has moved on. */
  logLength: number;
  /** When a delay ends (epoch ms); infinite for a hang. */
  until: number;
}

/** The runs seen across every server of a world. */
export class RunStateLog {
  readonly runs: RunStates[] = [];

  started(runId: string, instanceId: string, before: InstanceStateSeen): void {
    this.runs.push({ runId, instanceId, before });
  }

  ended(runId: string, after: InstanceStateSeen): void {
    const run = this.runs.find((r) => r.runId === runId);
    if (run) run.after = after;
  }
}

/** Where a probe reports what it sees; the world. */
export interface ProbeSink {
  readonly provenance: Map<string, string | null>;
  readonly deletions: Array<{ snapshotId: string; provenance: string | null }>;
  readonly deleteFaults: Map<string, Error[]>;
  readonly runStates: RunStateLog;
}

const SCHEDULER_EVENTS: Array<keyof SchedulerEventMap> = [
  'run-started',
  'run-succeeded',
  'run-failed',
  'run-skipped',
  'retention-deleted',
  'schedule-removed',
  'tick',
];

export class ServerProbe {
  /** Events and file operations seen: a progress counter for detecting a stall. */
  events = 0;
  /** Payload file operations in progress. */
  fsBusy = 0;
  /** Set when the world killed this server: it reports nothing more. */
  dead = false;

  /** VMs inside a delayed or hung hypervisor call: run dir → where the wait stands. */
  private readonly faultWaits = new Map<string, FaultWait>();

  constructor(
    private readonly sink: ProbeSink,
    private readonly services: Services,
    private readonly driver: MockDriver,
  ) {
    for (const record of services.domain.repos.snapshots.all()) {
      sink.provenance.set(record.id, record.scheduleInstanceId);
    }
    services.domain.events.on((event) => {
      this.events++;
      if (this.dead || event.type !== 'snapshot.created') return;
      const record = services.domain.repos.snapshots.get(event.snapshotId);
      sink.provenance.set(event.snapshotId, record?.scheduleInstanceId ?? null);
    });
    this.watchScheduler();
    this.wrapFileOps(services.domain);
    this.watchFaults();
  }

  /**
   * True while the server does something that is not waiting on the clock: a payload file
   * operation, a scheduled run, or any operation holding an instance's lock (a capture, a
   * lifecycle verb, a resume retry), unless that instance's VM sits in a delayed or hung call.
   */
  working(): boolean {
    if (this.fsBusy > 0) return true;
    const waiting = this.waitingInstances();
    if (this.services.scheduler.runningInstances.some((id) => !waiting.has(id))) return true;
    const { repos, locks } = this.services.domain;
    return repos.instances
      .all()
      .some((instance) => locks.holder(instanceKey(instance.id)) && !waiting.has(instance.id));
  }

  private watchScheduler(): void {
    const { events } = this.services.scheduler;
    for (const name of SCHEDULER_EVENTS) events.on(name, () => this.events++);
    events.on('run-started', (e) => {
      if (!this.dead)
        this.sink.runStates.started(e.runId, e.instanceId, this.stateOf(e.instanceId));
    });
    const ended = (e: { runId: string; instanceId: string }) => {
      if (!this.dead) this.sink.runStates.ended(e.runId, this.stateOf(e.instanceId));
    };
    events.on('run-succeeded', ended);
    events.on('run-failed', ended);
    events.on('retention-deleted', (e) => {
      const provenance = this.sink.provenance.get(e.snapshotId) ?? null;
      this.sink.deletions.push({ snapshotId: e.snapshotId, provenance });
    });
  }

  private stateOf(instanceId: string): InstanceStateSeen {
    const record = this.services.domain.repos.instances.get(instanceId);
    return record
      ? { state: record.state, stateError: record.stateError }
      : { state: 'deleted', stateError: null };
  }

  /**
   * Notes each delayed or hung call the mock makes (`faults.take` is wrapped on this test's
   * own driver): from then until the VM's next logged step, it waits on the clock (a delay
   * only until its end; a hang until the caller aborts it).
   */
  private watchFaults(): void {
    const { faults, calls } = this.driver;
    const take = faults.take.bind(faults);
    faults.take = (target) => {
      const fault = take(target);
      if (fault && !('fail' in fault)) {
        const until = 'delayMs' in fault ? this.now() + fault.delayMs : Number.POSITIVE_INFINITY;
        this.faultWaits.set(target.runDir, {
          logLength: calls.entries(target.runDir).length,
          until,
        });
      }
      return fault;
    };
  }

  private waitingInstances(): Set<string> {
    const waiting = new Set<string>();
    const { repos, paths } = this.services.domain;
    for (const [runDir, wait] of this.faultWaits) {
      if (this.driver.calls.entries(runDir).length !== wait.logLength) {
        this.faultWaits.delete(runDir);
      } else if (this.now() < wait.until) {
        const instance = repos.instances.all().find((i) => paths.runDir(i.id) === runDir);
        if (instance) waiting.add(instance.id);
      }
    }
    return waiting;
  }

  private now(): number {
    return this.services.domain.clock.now();
  }

  /** Counts payload file operations, and fails the removals a test armed (H3). */
  private wrapFileOps(domain: DomainContext): void {
    const { removeDir, rename, copyFile } = domain.fs;
    domain.fs.removeDir = (path) =>
      this.track(async () => {
        this.failIfArmed(path);
        await removeDir(path);
      });
    domain.fs.rename = (from, to) => this.track(() => rename(from, to));
    domain.fs.copyFile = (from, to) => this.track(() => copyFile(from, to));
  }

  private async track(op: () => Promise<void>): Promise<void> {
    this.fsBusy++;
    this.events++;
    try {
      await op();
    } finally {
      this.fsBusy--;
      this.events++;
    }
  }

  /** Only the removal of a payload being deleted (`.del-<id>`) fails, as in BB-22. */
  private failIfArmed(path: string): void {
    for (const [snapshotId, errors] of this.sink.deleteFaults) {
      if (!path.endsWith(`${TRASH_PREFIX}${snapshotId}`)) continue;
      const error = errors.shift();
      if (errors.length === 0) this.sink.deleteFaults.delete(snapshotId);
      if (error) throw error;
    }
  }
}
