/**
 * The real server stack (`createServices`) on a temp data dir with only the mock hypervisor, for
 * the benchmarks that measure vmkeep itself rather than QEMU: the scheduler at scale and the
 * HTTP API.
 *
 * One shortcut, stated in the report: instance disks are made by copying one blank qcow2 made
 * once with `qemu-img`, instead of running `qemu-img create` per instance (a process spawn
 * each, which would make creating 10,000 instances take minutes). The files are the same.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createBlankDisk } from '../packages/hypervisor/src/disk.js';
import { MockDriver } from '../packages/hypervisor/src/index.js';
import type { ServerConfig } from '../packages/server/src/config.js';
import { loadConfig } from '../packages/server/src/config.js';
import { systemClock } from '../packages/server/src/domain/clock.js';
import type { DiskOps } from '../packages/server/src/domain/instances/disks.js';
import { createServices, type Services } from '../packages/server/src/services.js';

/** The name of the image every bench instance boots (a tiny stand-in kernel: the mock reads it). */
export const BENCH_IMAGE = 'bench';

export interface MockStack {
  dataDir: string;
  config: ServerConfig;
  services: Services;
  /** Stops the scheduler and closes the database, then removes the data dir; idempotent. */
  close(): Promise<void>;
}

export interface MockStackOptions {
  /** Extra `VMKEEP_*` settings (the minimum interval, capture concurrency …). */
  env?: Record<string, string>;
}

/** Builds the stack and registers the bench image. */
export async function openMockStack(opts: MockStackOptions = {}): Promise<MockStack> {
  const root = await mkdtemp(join(tmpdir(), 'vmkeep-bench-'));
  const dataDir = join(root, 'data');
  const config = loadConfig({
    VMKEEP_DATA_DIR: dataDir,
    VMKEEP_MOCK_HYPERVISOR: '1',
    VMKEEP_LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const services = await createServices({
    config,
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    drivers: new Map([['mock', new MockDriver()]]),
    skipDefaultImage: true,
  });
  // The context is shared by reference, so replacing its disk ops here reaches every verb.
  services.domain.disks = await templateDiskOps(join(root, 'template'));

  const kernel = join(root, 'kernel');
  await writeFile(kernel, 'not a kernel: the mock hypervisor only checks it can be read\n');
  await services.images.create({ name: BENCH_IMAGE, kernel_path: kernel });

  let closed: Promise<void> | undefined;
  const close = async () => {
    try {
      await services.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };
  return { dataDir, config, services, close: () => (closed ??= close()) };
}

/**
 * Creates `count` running mock instances, `parallel` at a time, named `bench-<i>`; returns
 * their ids in order.
 */
export async function createInstances(
  services: Services,
  count: number,
  parallel = 8,
): Promise<string[]> {
  const ids = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const record = await services.instances.create({
        name: `bench-${i}`,
        image: BENCH_IMAGE,
        hypervisor: 'mock',
        vcpus: 1,
        size: '256MB',
      });
      ids[i] = record.id;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ids;
}

/** Disk ops that copy one blank qcow2 made once with `qemu-img` (see the module doc). */
async function templateDiskOps(dir: string): Promise<DiskOps> {
  await mkdir(dir, { recursive: true });
  // Promises, not paths: parallel creates of the first instance must not race on the template.
  const templates = new Map<number, Promise<string>>();
  const templateOf = (sizeBytes: number) => {
    let made = templates.get(sizeBytes);
    if (!made) {
      const path = join(dir, `blank-${sizeBytes}.qcow2`);
      made = createBlankDisk(path, sizeBytes).then(() => path);
      templates.set(sizeBytes, made);
    }
    return made;
  };
  return {
    createBlank: async (path, sizeBytes) => copyFile(await templateOf(sizeBytes), path),
    createOverlay: async () => {
      throw new Error('the bench image has no root disk, so no overlay is ever made');
    },
    info: async () => {
      throw new Error('the bench image has no root disk to inspect');
    },
  };
}
