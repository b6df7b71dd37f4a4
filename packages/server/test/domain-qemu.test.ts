/**
 * The domain on a real guest: QEMU under TCG, the project's default guest (setup builds it),
 * real time. One source guest and at most one fork run at once (two cores).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDriver, requireDefaultGuestImage } from '@vmkeep/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageService } from '../src/domain/images/service.js';
import { createDomainContext, type DomainContext } from '../src/domain/instances/context.js';
import { InstanceService } from '../src/domain/instances/service.js';
import { SnapshotService } from '../src/domain/snapshots/service.js';
import { type Db, openDatabase } from '../src/store/db.js';

interface Tick {
  n: number;
  bootId: string;
}

/** The guest's heartbeat lines (`tick N uptime=U boot_id=B`) in a serial log. */
async function ticks(path: string): Promise<{ ticks: Tick[]; text: string }> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const found = [...text.matchAll(/^tick (\d+) uptime=\S+ boot_id=(\S+)/gm)].map((m) => ({
    n: Number(m[1]),
    bootId: m[2]!,
  }));
  return { ticks: found, text };
}

/** Polls the serial log (real time: a real guest) until `count` ticks are there. */
async function waitForTicks(path: string, count: number, timeoutMs = 60_000): Promise<Tick[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { ticks: found } = await ticks(path);
    if (found.length >= count) return found;
    if (Date.now() > deadline)
      throw new Error(`${path}: ${found.length} of ${count} ticks in time`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let root: string;
let db: Db;
let ctx: DomainContext;
let instances: InstanceService;
let snapshots: SnapshotService;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-dq-'));
  db = openDatabase(join(root, 'vmkeep.db'));
  ctx = createDomainContext({
    db,
    dataDir: root,
    drivers: new Map([['qemu', new QemuDriver({ accel: 'tcg' })]]),
    settings: { stopTimeoutMs: 15_000 },
  });
  instances = new InstanceService(ctx);
  snapshots = new SnapshotService(ctx);
  await new ImageService(ctx).ensureDefault(await requireDefaultGuestImage());
});

afterAll(async () => {
  ctx.close();
  for (const [id, vm] of ctx.runtime.entries()) {
    ctx.runtime.take(id);
    await vm.kill();
  }
  db.close();
  await rm(root, { recursive: true, force: true });
});

describe('the domain on a real QEMU guest', () => {
  it('snapshots a running guest without a reboot, forks it where it was, and cleans up', async () => {
    // 1. Create: Running, heartbeat on the serial log.
    const source = await instances.create({
      name: 'src',
      image: 'default',
      size: '256MB',
      vcpus: 1,
    });
    expect(source).toMatchObject({ state: 'Running', hypervisor: 'qemu' });
    const sourceLog = ctx.paths.serialLog(source.id);
    const before = await waitForTicks(sourceLog, 2);
    const bootId = before[0]!.bootId;

    // 2. A Standby snapshot: the guest keeps running the same boot.
    const lastBefore = (await ticks(sourceLog)).ticks.at(-1)!.n;
    const snapshot = await snapshots.create('src', { name: 'warm' });
    expect(snapshot).toMatchObject({ kind: 'Standby', status: 'ready' });
    expect(snapshot.downtimeMs).toBeGreaterThanOrEqual(0);
    expect(instances.get('src').state).toBe('Running');
    const after = await waitForTicks(sourceLog, before.length + 2);
    const firstAfter = after.find((t) => t.n > lastBefore)!.n;
    const sourceText = (await ticks(sourceLog)).text;
    expect(sourceText.match(/Linux version/g)).toHaveLength(1);
    expect(after.every((t) => t.bootId === bootId)).toBe(true);

    // 3. Stop the source (two cores: one guest at a time).
    await instances.stop('src');
    expect(instances.get('src').state).toBe('Stopped');

    // 4. Fork: the guest continues from the tick at snapshot time, same boot, no banner.
    const fork = await snapshots.fork(snapshot.id, { name: 'fork' });
    expect(fork.state).toBe('Running');
    const forkTicks = await waitForTicks(ctx.paths.serialLog(fork.id), 2);
    expect(forkTicks[0]!.bootId).toBe(bootId);
    expect(forkTicks[0]!.n).toBeGreaterThan(lastBefore);
    expect(forkTicks[0]!.n).toBeLessThanOrEqual(firstAfter);
    expect((await ticks(ctx.paths.serialLog(fork.id))).text).not.toContain('Linux version');

    // 5. Delete both: only the snapshot's files remain.
    await instances.delete('fork');
    await instances.delete('src');
    expect(await readdir(ctx.paths.instances)).toEqual([]);
    expect(await readdir(ctx.paths.snapshots)).toEqual([snapshot.id]);
    const manifest = JSON.parse(
      await readFile(join(ctx.paths.snapshot(snapshot.id), 'manifest.json'), 'utf8'),
    ) as { files: { role: string; path: string }[] };
    expect(manifest.files.map((f) => f.role).sort()).toEqual(['disk', 'memory']);
    expect((await readdir(ctx.paths.snapshot(snapshot.id))).sort()).toEqual(
      [...manifest.files.map((f) => f.path), 'instance.json', 'manifest.json'].sort(),
    );
    expect(snapshots.list().items.map((s) => s.id)).toEqual([snapshot.id]);
  }, 180_000);
});
