/**
 * What the schedule service and the scheduler need from the rest of the server. The
 * instances/snapshots domain provides these; the server wires an adapter in. Kept minimal so
 * schedules know nothing of drivers, payload files or HTTP.
 */

/** An instance as the schedule code sees it. */
export interface InstanceSummary {
  id: string;
  name: string;
  state: string;
  /**
   * Why the instance is not as it should be, e.g. a guest left paused because its resume
   * failed after a snapshot (BB-26 B); null or absent when all is well.
   */
  stateError?: string | null;
}

/** Looks instances up by canonical id (the route has already resolved names and prefixes). */
export interface InstancePort {
  /** The instance, or undefined once it has been deleted. */
  find(instanceId: string): InstanceSummary | undefined;
}

/** A snapshot as retention sees it. */
export interface ScheduledSnapshot {
  id: string;
  name: string | null;
  /** RFC 3339. */
  created_at: string;
  status: 'creating' | 'ready' | 'failed';
  pinned: boolean;
  /** Server-side provenance: set only on snapshots a schedule took; clients cannot write it. */
  schedule: { instance_id: string } | null;
}

/** Server-side provenance written onto a scheduled snapshot. */
export interface CaptureProvenance {
  scheduleInstanceId: string;
  scheduleRunId: string;
}

export interface SnapshotPort {
  /**
   * Takes the instance lock, picks the kind from the live state, writes provenance: the
   * server-side fields and hypeman's two tags (`hypeman.scheduled`, and the instance id)
   * beside `req.tags`. Rejects with a DomainError: `invalid_state` for a state it cannot
   * capture, `already_exists` when the name is taken on this instance. Gives up when
   * `signal` aborts.
   */
  capture(
    instanceId: string,
    req: { name: string; tags: Record<string, string> },
    opts: { provenance: CaptureProvenance; signal: AbortSignal },
  ): Promise<{ id: string; created_at: string }>;

  /** Snapshots whose provenance names `instanceId`'s schedule, in any status. */
  listScheduled(instanceId: string): ScheduledSnapshot[];

  /**
   * Deletes a snapshot retention chose, unless it is pinned by the time the delete holds it
   * (a pin may land after the plan): then it is kept and this returns `false`. Throws a
   * DomainError with code 'not_found' when already gone.
   */
  deleteUnlessPinned(snapshotId: string): Promise<boolean>;
}

/** The logging surface the scheduler uses; a pino logger satisfies it. */
export interface SchedulerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
