/**
 * Everything the domain's operations share, built once at start: the repositories over one
 * database, the data-dir layout, the hypervisor drivers, the injected clock and logger, the
 * per-key locks and the live VM handles. Services and verbs take it as their first argument.
 */
import { mkdirSync } from 'node:fs';
import {
  type HypervisorDriver,
  type HypervisorKind,
  type Logger,
  silentLogger,
} from '@vmkeep/hypervisor';
import type { Db } from '../../store/db.js';
import { ImagesRepo } from '../../store/images-repo.js';
import { InstancesRepo } from '../../store/instances-repo.js';
import { SnapshotsRepo } from '../../store/snapshots-repo.js';
import { type Clock, systemClock } from '../clock.js';
import { KeyedLock } from '../lock.js';
import { DataPaths } from '../paths.js';
import { type DiskOps, qemuImgDiskOps } from './disks.js';
import { DomainEvents } from './events.js';
import { type FileOps, nodeFileOps } from './files.js';
import { VmRuntime } from './runtime.js';

/** Tunables of the domain; tests shorten them, `main` may read them from config. */
export interface DomainSettings {
  /** vCPUs when a create request gives none (openapi.yaml's default: 1). */
  defaultVcpus: number;
  /** Memory when a create request gives no `size` (openapi.yaml's default: 512 MiB). */
  defaultMemoryBytes: number;
  /** Virtual size of the blank disk of an image without a root disk. */
  blankDiskBytes: number;
  /** How long `stop` waits for a graceful power-off before the VMM is killed. */
  stopTimeoutMs: number;
  /** First wait before retrying a failed resume; doubles up to the maximum. */
  resumeRetryInitialMs: number;
  resumeRetryMaxMs: number;
  /** `wait` without a timeout waits this long; no wait is longer than the cap (5 min). */
  waitDefaultMs: number;
  waitMaxMs: number;
  /** How often a log follower looks for new output. */
  logPollMs: number;
}

/** The settings a server runs with unless told otherwise. */
export const DEFAULT_SETTINGS: DomainSettings = {
  defaultVcpus: 1,
  defaultMemoryBytes: 512 * 1024 ** 2,
  blankDiskBytes: 1024 ** 3,
  stopTimeoutMs: 10_000,
  resumeRetryInitialMs: 500,
  resumeRetryMaxMs: 30_000,
  waitDefaultMs: 60_000,
  waitMaxMs: 5 * 60_000,
  logPollMs: 250,
};

/** The shared dependencies every domain operation takes first. */
export interface DomainContext {
  repos: { images: ImagesRepo; instances: InstancesRepo; snapshots: SnapshotsRepo };
  paths: DataPaths;
  /** Registered drivers, in order of preference; the first available is the default. */
  drivers: ReadonlyMap<HypervisorKind, HypervisorDriver>;
  clock: Clock;
  logger: Logger;
  locks: KeyedLock;
  runtime: VmRuntime;
  events: DomainEvents;
  fs: FileOps;
  disks: DiskOps;
  settings: DomainSettings;
  /** Aborted by {@link DomainContext.close}; background loops (resume retries) stop on it. */
  closing: AbortSignal;
  /** Stops background work. Live guests are left alone (see `InstanceService.detachAll`). */
  close(): void;
}

/** What `main` (or a test) provides to build a {@link DomainContext}. */
export interface DomainOptions {
  db: Db;
  dataDir: string;
  /**
   * Drivers by kind, in order of preference. Register `mock` only when it is enabled
   * (`VMKEEP_MOCK_HYPERVISOR=1`): a kind missing here cannot be chosen.
   */
  drivers: ReadonlyMap<HypervisorKind, HypervisorDriver>;
  clock?: Clock;
  logger?: Logger;
  settings?: Partial<DomainSettings>;
  /** Overrides for file operations (tests inject failures here). */
  fs?: Partial<FileOps>;
  disks?: DiskOps;
  events?: DomainEvents;
}

/** Builds the context over an open database and a data dir (creating its folders). */
export function createDomainContext(opts: DomainOptions): DomainContext {
  const paths = new DataPaths(opts.dataDir);
  for (const dir of [paths.images, paths.instances, paths.snapshots]) {
    mkdirSync(dir, { recursive: true });
  }
  const closer = new AbortController();
  const ctx: DomainContext = {
    repos: {
      images: new ImagesRepo(opts.db),
      instances: new InstancesRepo(opts.db),
      snapshots: new SnapshotsRepo(opts.db),
    },
    paths,
    drivers: opts.drivers,
    clock: opts.clock ?? systemClock,
    logger: opts.logger ?? silentLogger,
    locks: new KeyedLock(),
    runtime: new VmRuntime(),
    events: opts.events ?? new DomainEvents(),
    fs: { ...nodeFileOps, ...opts.fs },
    disks: opts.disks ?? qemuImgDiskOps(),
    settings: { ...DEFAULT_SETTINGS, ...opts.settings },
    closing: closer.signal,
    close: () => closer.abort(new Error('vmkeep is shutting down')),
  };
  return ctx;
}
