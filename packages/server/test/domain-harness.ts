/**
 * A domain on a temp data dir, the mock driver and a fake clock, for the domain-*.test.ts
 * files. `restart()` simulates the server process dying and starting again on the same data
 * dir: the old driver and context are dropped without detaching (the mock's "VMMs" live on in
 * their state files), and a new driver and context are built.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockDriver } from '@vmkeep/hypervisor';
import { ImageService } from '../src/domain/images/service.js';
import {
  createDomainContext,
  type DomainContext,
  type DomainSettings,
} from '../src/domain/instances/context.js';
import type { FileOps } from '../src/domain/instances/files.js';
import { InstanceService } from '../src/domain/instances/service.js';
import { SnapshotService } from '../src/domain/snapshots/service.js';
import { type Db, openDatabase } from '../src/store/db.js';
import { FakeClock, flush } from './support/fake-clock.js';

export interface Harness {
  dataDir: string;
  hostDir: string;
  db: Db;
  clock: FakeClock;
  driver: MockDriver;
  ctx: DomainContext;
  images: ImageService;
  instances: InstanceService;
  snapshots: SnapshotService;
  /** Drops this "process" and starts another on the same data dir (no reconcile yet). */
  restart(): Promise<Harness>;
  /** Kills every mock VM, closes the database, removes the temp dirs. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  settings?: Partial<DomainSettings>;
  fs?: Partial<FileOps>;
}

const MIB = 1024 ** 2;

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'vmkeep-domain-'));
  const hostDir = join(root, 'host');
  await mkdir(hostDir);
  await writeFile(join(hostDir, 'vmlinuz'), 'a kernel');
  await writeFile(join(hostDir, 'initrd'), 'an initrd');
  const harness = await build(root, join(root, 'data'), new FakeClock(), opts);
  await harness.images.ensureDefault({
    kernel: join(hostDir, 'vmlinuz'),
    initrd: join(hostDir, 'initrd'),
  });
  return harness;
}

async function build(
  root: string,
  dataDir: string,
  clock: FakeClock,
  opts: HarnessOptions,
): Promise<Harness> {
  const db = openDatabase(join(dataDir, 'vmkeep.db'));
  const driver = new MockDriver({ clock });
  const ctx = createDomainContext({
    db,
    dataDir,
    drivers: new Map([['mock', driver]]),
    clock,
    settings: { defaultVcpus: 1, defaultMemoryBytes: 256 * MIB, ...opts.settings },
    fs: opts.fs,
  });
  const harness: Harness = {
    dataDir,
    hostDir: join(root, 'host'),
    db,
    clock,
    driver,
    ctx,
    images: new ImageService(ctx),
    instances: new InstanceService(ctx),
    snapshots: new SnapshotService(ctx),
    restart: async () => {
      ctx.close();
      db.close();
      return build(root, dataDir, clock, opts);
    },
    close: async () => {
      ctx.close();
      for (const vm of driver.liveVms) await vm.kill();
      db.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return harness;
}

/**
 * Lets `promise` finish while moving the fake clock: whenever the code under test is asleep on
 * the clock, time jumps by `stepMs`. Fails after `maxSteps` jumps (a hang).
 */
export async function drive<T>(
  clock: FakeClock,
  promise: Promise<T>,
  { stepMs = 100, maxSteps = 10_000 } = {},
): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => undefined);
  for (let step = 0; step < maxSteps; step++) {
    await idle();
    if (settled) return tracked;
    if (clock.pendingTimers > 0) await clock.advance(stepMs);
  }
  throw new Error(`still running after ${maxSteps} clock steps of ${stepMs} ms`);
}

/** Waits until pending I/O and promise chains have run (a few real milliseconds at most). */
export async function idle(): Promise<void> {
  await flush(3);
  await new Promise((resolve) => setTimeout(resolve, 2));
  await flush(3);
}

/**
 * Waits (in real time, at most `timeoutMs`) until `check` holds: for effects that need file
 * I/O to finish after the clock fired, never for clock time itself.
 */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await idle();
  }
}

/** Entries of a directory, or [] if it does not exist. */
export async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
