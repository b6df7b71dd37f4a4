/**
 * Builds the running server's parts from its configuration, in dependency order, and takes them
 * down in the reverse order. `main.ts` and the end-to-end tests use the same function, so a test
 * server is the real server on a temp data dir.
 */
import {
  CloudHypervisorDriver,
  type HypervisorDriver,
  type HypervisorKind,
  MockDriver,
  QemuDriver,
  requireDefaultGuestImage,
} from '@vmkeep/hypervisor';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { ServerDeps } from './deps.js';
import type { Clock } from './domain/clock.js';
import { ImageService } from './domain/images/service.js';
import { createDomainContext, type DomainContext } from './domain/instances/context.js';
import { InstanceService } from './domain/instances/service.js';
import { reconcile } from './domain/reconcile.js';
import { parseDuration } from './domain/schedules/duration.js';
import { ScheduleService } from './domain/schedules/schedule-service.js';
import { ScheduleStore } from './domain/schedules/schedule-store.js';
import { Scheduler } from './domain/schedules/scheduler.js';
import { SnapshotService } from './domain/snapshots/service.js';
import { instancePort, scheduledExpiry, snapshotPort } from './schedule-ports.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { type Db, openDatabase } from './store/db.js';

/** The domain services routes call, and what `main` needs to stop them. */
export interface Services {
  db: Db;
  domain: DomainContext;
  images: ImageService;
  instances: InstanceService;
  snapshots: SnapshotService;
  schedules: ScheduleService;
  scheduler: Scheduler;
  drivers: ReadonlyMap<HypervisorKind, HypervisorDriver>;
  /**
   * Stops the scheduler, then keeps or shuts down guests per `VMKEEP_ON_EXIT` (or `onExit`,
   * which overrides it), then the db.
   */
  close(opts?: { onExit?: ServerConfig['onExit'] }): Promise<GuestsAtExit>;
}

/** What stopping the server did to the guests. */
export interface GuestsAtExit {
  /** Left running, to be re-attached at the next start (`VMKEEP_ON_EXIT=keep`). */
  kept: number;
  /** Powered off (`VMKEEP_ON_EXIT=shutdown`). */
  stopped: number;
}

export interface ServiceOptions {
  config: ServerConfig;
  logger: Logger;
  clock: Clock;
  /** Replaces the drivers chosen from the configuration (tests pass a mock with faults). */
  drivers?: ReadonlyMap<HypervisorKind, HypervisorDriver>;
  /** Skip registering the `default` image (for tests without a built guest). */
  skipDefaultImage?: boolean;
}

/** The drivers in order of preference: QEMU first (it runs everywhere, with TCG if need be). */
export function defaultDrivers(
  config: ServerConfig,
  logger: Logger,
  clock: Clock,
): Map<HypervisorKind, HypervisorDriver> {
  const drivers = new Map<HypervisorKind, HypervisorDriver>();
  drivers.set(
    'qemu',
    new QemuDriver({ logger: logger.child({ driver: 'qemu' }), cacheDir: config.cacheDir }),
  );
  drivers.set(
    'cloud-hypervisor',
    new CloudHypervisorDriver({ logger: logger.child({ driver: 'cloud-hypervisor' }) }),
  );
  if (config.mockHypervisor) {
    drivers.set('mock', new MockDriver({ clock, logger: logger.child({ driver: 'mock' }) }));
  }
  return drivers;
}

/** Opens the data dir, reconciles it with what is on disk and running, starts the scheduler. */
export async function createServices(opts: ServiceOptions): Promise<Services> {
  // 0. Claim the data dir before touching it: a second server would reconcile the first's
  //    live guests and unfinished snapshots away.
  const unlock = lockDataDir(opts.config.dataDir);
  try {
    return await openServices(opts, unlock);
  } catch (error) {
    unlock();
    throw error;
  }
}

async function openServices(opts: ServiceOptions, unlock: () => void): Promise<Services> {
  const { config, logger, clock } = opts;

  // 1. The database and the domain over it.
  const db = openDatabase(`${config.dataDir}/vmkeep.db`);
  const drivers = opts.drivers ?? defaultDrivers(config, logger, clock);
  const domain = createDomainContext({
    db,
    dataDir: config.dataDir,
    drivers,
    clock,
    logger: logger.child({ subsystem: 'domain' }),
  });
  const store = new ScheduleStore(db);
  const images = new ImageService(domain);
  const instances = new InstanceService(domain);
  const snapshots = new SnapshotService(domain, scheduledExpiry(store));

  // 2. Reconcile before anything can act: half-written snapshots are removed and guests left
  //    running by the previous process are re-attached, so the scheduler sees the truth.
  await reconcile(domain);
  if (!opts.skipDefaultImage) await images.ensureDefault(await requireDefaultGuestImage());

  // 3. Schedules, then the scheduler; every PUT or DELETE wakes it.
  const scheduler = new Scheduler({
    store,
    clock,
    instances: instancePort(instances),
    snapshots: snapshotPort(snapshots),
    logger: logger.child({ subsystem: 'scheduler' }),
    maxConcurrentCaptures: config.maxConcurrentCaptures,
    captureTimeoutMs: config.captureTimeoutMs,
    // Stable per data dir, so a restarted server fails its own unfinished runs at once.
    leaseOwner: `vmkeep:${config.dataDir}`,
  });
  const schedules = new ScheduleService({
    store,
    clock,
    instances: instancePort(instances),
    minIntervalNs: parseDuration(config.minScheduleInterval),
    jitter: config.scheduleJitter,
    onChange: () => scheduler.wake(),
  });
  scheduler.start();

  return {
    db,
    domain,
    images,
    instances,
    snapshots,
    schedules,
    scheduler,
    drivers,
    async close(closeOpts = {}) {
      await scheduler.stop();
      const guests: GuestsAtExit = { kept: 0, stopped: 0 };
      if ((closeOpts.onExit ?? config.onExit) === 'shutdown') {
        for (const state of ['Running', 'Paused'] as const) {
          for (const instance of instances.list({ state }).items) {
            await instances.stop(instance.id).then(
              () => guests.stopped++,
              (error: unknown) => {
                logger.warn(
                  { err: error, instanceId: instance.id },
                  'could not stop guest at exit',
                );
              },
            );
          }
        }
      }
      // After a shutdown, whatever could not be stopped is let go too, and still counted.
      guests.kept = await instances.detachAll();
      domain.close();
      db.close();
      unlock();
      return guests;
    },
  };
}

/** `GET /capabilities`: each registered driver's (cached) probe. */
export function capabilitiesOf(
  drivers: ReadonlyMap<HypervisorKind, HypervisorDriver>,
): ServerDeps['capabilities'] {
  return async () => {
    const probes = await Promise.all([...drivers.values()].map((driver) => driver.probe()));
    return probes.map((probe) => ({
      name: probe.kind,
      available: probe.available,
      reason: probe.reason ?? null,
      version: probe.version ?? null,
      accel: probe.accel ?? null,
      features: probe.features,
    }));
  };
}
