/**
 * Schema migrations, applied in order; entry N moves the schema to version N+1. Never edit a
 * released entry: append a new one.
 *
 * Times are integers: milliseconds since the epoch, UTC. Durations are integer nanoseconds, the
 * unit of Go durations, so `1.5h` and `90s` round-trip exactly. JSON maps are TEXT.
 */
export const migrations: readonly string[] = [
  /* 1: images, instances, snapshots, schedules, runs */ `
  CREATE TABLE images (
    name         TEXT PRIMARY KEY,
    kernel_path  TEXT NOT NULL,
    initrd_path  TEXT,
    disk_path    TEXT,
    cmdline      TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
  );

  CREATE TABLE instances (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- stable order for cursor paging
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL UNIQUE,
    image        TEXT NOT NULL REFERENCES images(name),
    hypervisor   TEXT NOT NULL,
    vcpus        INTEGER NOT NULL,
    memory_bytes INTEGER NOT NULL,
    env          TEXT NOT NULL DEFAULT '{}',
    tags         TEXT NOT NULL DEFAULT '{}',
    -- Last state the server established; reconciled with the VMM at start.
    state        TEXT NOT NULL,
    state_error  TEXT,
    pid          INTEGER,
    spec         TEXT NOT NULL,                      -- VmSpec JSON (device model, disk paths)
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    stopped_at   INTEGER
  );

  CREATE TABLE snapshots (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    name                 TEXT,
    kind                 TEXT NOT NULL CHECK (kind IN ('Standby', 'Stopped')),
    status               TEXT NOT NULL CHECK (status IN ('creating', 'ready', 'failed')),
    error                TEXT,
    tags                 TEXT NOT NULL DEFAULT '{}',
    pinned               INTEGER NOT NULL DEFAULT 0,
    -- No foreign key: a snapshot outlives its source instance.
    source_instance_id   TEXT NOT NULL,
    source_instance_name TEXT NOT NULL,
    source_hypervisor    TEXT NOT NULL,
    -- Provenance, written only by the scheduler and never by a client: the instance whose
    -- schedule took this snapshot, and the run. Retention trusts nothing else.
    schedule_instance_id TEXT,
    schedule_run_id      TEXT,
    size_bytes           INTEGER NOT NULL DEFAULT 0,
    downtime_ms          INTEGER,
    created_at           INTEGER NOT NULL,
    UNIQUE (source_instance_id, name)
  );
  CREATE INDEX snapshots_by_source ON snapshots (source_instance_id, created_at);
  CREATE INDEX snapshots_by_schedule ON snapshots (schedule_instance_id, created_at)
    WHERE schedule_instance_id IS NOT NULL;

  -- One schedule per instance. No foreign key: a schedule outlives its instance so retention
  -- can keep pruning (it removes itself once converged).
  CREATE TABLE snapshot_schedules (
    instance_id      TEXT PRIMARY KEY,
    -- A new id each time a schedule is created, so a run of a deleted schedule can never
    -- write into a schedule re-created meanwhile.
    schedule_id      TEXT NOT NULL UNIQUE,
    interval_ns      INTEGER NOT NULL,
    name_prefix      TEXT,
    metadata         TEXT NOT NULL DEFAULT '{}',
    max_count        INTEGER NOT NULL DEFAULT 0,
    max_age_ns       INTEGER NOT NULL DEFAULT 0,
    next_run_at      INTEGER NOT NULL,
    last_run_at      INTEGER,
    last_snapshot_id TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
  );
  CREATE INDEX schedules_by_next_run ON snapshot_schedules (next_run_at);

  -- Every run of a schedule. The unique (schedule_id, scheduled_for) row is the run's claim on
  -- its slot: two server processes on one data dir can never both take the same slot.
  CREATE TABLE schedule_runs (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    instance_id          TEXT NOT NULL,
    schedule_id          TEXT NOT NULL,
    scheduled_for        INTEGER NOT NULL,
    started_at           INTEGER,
    finished_at          INTEGER,
    status               TEXT NOT NULL
      CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    reason               TEXT,
    snapshot_id          TEXT,
    deleted_snapshot_ids TEXT NOT NULL DEFAULT '[]',
    error                TEXT,
    -- Which server process runs it, until when; an expired lease means that process died.
    lease_owner          TEXT,
    lease_expires_at     INTEGER,
    UNIQUE (schedule_id, scheduled_for)
  );
  CREATE INDEX runs_by_instance ON schedule_runs (instance_id, seq);
  CREATE INDEX runs_running ON schedule_runs (status) WHERE status = 'running';
  `,
];
