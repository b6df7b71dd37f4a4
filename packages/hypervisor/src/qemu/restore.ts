/**
 * Restoring a snapshot into a new QEMU process: the same device model, started with
 * `-incoming defer`, fed the saved stream with `migrate-incoming`. QEMU checks the device model
 * against the stream and exits on a mismatch, explaining only on stderr (`Size mismatch:
 * pc.ram …`, `Unknown savevm section …`), so that tail is what a failed restore reports.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { Accel, RestoreRequest } from '../types.js';
import { QemuError } from './errors.js';
import { execReadUri } from './exec-uri.js';
import { type Launched, launchQemu } from './launch.js';
import { detailsOf, readQemuManifest } from './manifest.js';
import { waitForMigration } from './migration.js';

export interface RestoreDeps {
  binary: string;
  qemuVersion: string;
  accel: Accel;
  /** Machine type for manifests that do not record one. */
  defaultMachine: string;
  defaultCpu: string;
  logger: Logger;
}

/**
 * 1. read the manifest; 2. spawn with the recorded machine/CPU and the caller's spec (`-S` when
 * the guest must stay paused, so it never runs a single instruction); 3. stream the memory file
 * in; 4. resume when asked (a guest captured stopped comes back paused).
 */
export async function restoreQemu(deps: RestoreDeps, req: RestoreRequest): Promise<Launched> {
  const manifest = await readQemuManifest(req.snapshotDir);
  const details = detailsOf(manifest);
  const memoryFile = manifest.files.find((f) => f.role === 'memory');
  if (!memoryFile) throw new QemuError('restore_failed', `no memory file in ${req.snapshotDir}`);
  const memory = join(req.snapshotDir, memoryFile.path);
  await access(memory).catch((error) => {
    throw new QemuError('restore_failed', `cannot read ${memory}`, '', { cause: error });
  });
  if (details.accel && details.accel !== deps.accel) {
    deps.logger.warn(
      { was: details.accel, now: deps.accel },
      'restoring under another accelerator',
    );
  }
  const resume = req.resume ?? true;

  const launched = await launchQemu({
    binary: deps.binary,
    qemuVersion: deps.qemuVersion,
    spec: req.spec,
    runDir: req.runDir,
    launch: {
      machine: details.machine ?? manifest.spec.machine ?? deps.defaultMachine,
      cpu: details.cpu ?? deps.defaultCpu,
      accel: deps.accel,
    },
    mode: { incoming: true, paused: !resume },
    logger: deps.logger,
  });
  const { qmp, vmm } = launched;
  try {
    const since = qmp.mark();
    await qmp.execute('migrate-incoming', { uri: execReadUri(memory) });
    const outcome = await waitForMigration(qmp, {
      since,
      timeoutMs: 30_000 + req.spec.memoryMiB * 50,
    });
    if (outcome.status !== 'completed') throw new Error(`incoming migration ${outcome.status}`);
    const { status } = await qmp.execute<{ status: string }>('query-status');
    if (resume && status !== 'running') await qmp.execute('cont');
    deps.logger.info({ pid: vmm.pid, resumed: resume }, 'snapshot restored');
    return launched;
  } catch (error) {
    // QEMU exits by itself after a failed incoming migration; give it the chance to finish its
    // message before making sure it is gone.
    const exit = await Promise.race([vmm.exited, sleepThenKill(launched, 2000)]);
    throw new QemuError(
      'restore_failed',
      `restoring ${req.snapshotDir} failed (${(error as Error).message})`,
      exit.stderrTail,
      { cause: error },
    );
  }
}

async function sleepThenKill(launched: Launched, ms: number) {
  await sleep(ms);
  return launched.vmm.kill({ graceMs: 500 });
}
