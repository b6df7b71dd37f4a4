/**
 * Restoring a Cloud Hypervisor snapshot into a new VMM process, onto the caller's working copies
 * of the disks. The snapshot directory is only read: CH is pointed at a directory in the run
 * dir holding a rewritten copy of `config.json` and links to the captured state.
 */
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../logger.js';
import type { RestoreRequest, SnapshotManifest } from '../types.js';
import type { ChVmConfig } from './api-client.js';
import { retargetConfig } from './config.js';
import { CloudHypervisorApiError, CloudHypervisorProcessError } from './errors.js';
import { type LaunchedVmm, launchVmm, runPaths } from './launch.js';
import { startSerialRelay } from './serial-relay.js';
import { chConfigFile, manifestFile } from './snapshot.js';
import { CloudHypervisorVm } from './vm.js';

export interface RestoreContext {
  binary: string;
  logger: Logger;
  now: () => Date;
  startTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * 1. Check the manifest is a CH memory snapshot.
 * 2. Present it to CH from the run dir, its disk and serial paths rewritten.
 * 3. Start a VMM with only its API socket (`vm.restore` needs one with no VM in it).
 * 4. `vm.restore`, then resume through `vm.info`: before v52 CH ignores `resume` and the guest
 *    comes back paused whatever was asked.
 */
export async function restoreVm(
  ctx: RestoreContext,
  req: RestoreRequest,
): Promise<CloudHypervisorVm> {
  const snapshotDir = resolve(req.snapshotDir);
  const runDir = resolve(req.runDir);
  const wantRunning = req.resume ?? true;
  const logger = ctx.logger.child({ op: 'restore', snapshotDir });

  // 1. Only what this driver wrote can be restored by it.
  const manifest = await readManifest(snapshotDir);

  // 2. The rewritten config and links to the captured state, in the run dir.
  const paths = runPaths(runDir);
  await mkdir(runDir, { recursive: true });
  const relay = await startSerialRelay(paths.serialFifo, req.spec.serialLogPath);
  let launched: LaunchedVmm | undefined;
  try {
    await presentSnapshot(snapshotDir, manifest, req, paths.restoreSource, paths.serialFifo);

    // 3. A fresh VMM.
    launched = await launchVmm({ ...ctx, runDir, logger });
    if (launched.version !== manifest.hypervisorVersion) {
      // CH decides itself whether it can read an older snapshot; say why if it cannot.
      logger.warn(
        { snapshotVersion: manifest.hypervisorVersion, vmmVersion: launched.version },
        'restoring a snapshot taken by another cloud-hypervisor version',
      );
    }

    // 4. Restore, then make the state what the caller asked for.
    const { api } = launched;
    await api.restore({
      source_url: `file://${paths.restoreSource}`,
      prefault: false,
      resume: wantRunning,
    });
    const { state } = await api.info();
    if (wantRunning && state === 'Paused') await api.resume();
  } catch (err) {
    await launched?.api.close();
    const exit = launched ? await launched.vmm.kill() : undefined;
    await relay.stop(0);
    // CH's own answer says why; otherwise (a dropped connection, a timeout) its log may.
    const chSaidWhy =
      err instanceof CloudHypervisorApiError || err instanceof CloudHypervisorProcessError;
    if (exit && exit.stderrTail.trim() !== '' && !chSaidWhy) {
      throw new CloudHypervisorProcessError(`restore from ${snapshotDir} failed`, exit, {
        cause: err,
      });
    }
    throw err;
  }

  logger.info({ pid: launched.vmm.pid, resumed: wantRunning }, 'snapshot restored');
  return new CloudHypervisorVm({
    ...launched,
    runDir,
    spec: req.spec,
    serialRelay: relay,
    logger: ctx.logger,
    now: ctx.now,
  });
}

async function readManifest(snapshotDir: string): Promise<SnapshotManifest> {
  const path = join(snapshotDir, manifestFile);
  const manifest = JSON.parse(await readFile(path, 'utf8')) as SnapshotManifest;
  if (manifest.hypervisor !== 'cloud-hypervisor') {
    throw new Error(`${path} is a ${manifest.hypervisor} snapshot, not a cloud-hypervisor one`);
  }
  if (manifest.kind !== 'memory') {
    throw new Error(
      `${path} is a ${manifest.kind} snapshot; only memory snapshots can be restored into a VMM`,
    );
  }
  return manifest;
}

/**
 * Builds `sourceDir`: `config.json` retargeted at the spec's working copies and serial FIFO,
 * and symlinks to every other file CH wrote (memory and device state are only read).
 */
async function presentSnapshot(
  snapshotDir: string,
  manifest: SnapshotManifest,
  req: RestoreRequest,
  sourceDir: string,
  serialPath: string,
): Promise<void> {
  await rm(sourceDir, { recursive: true, force: true });
  await mkdir(sourceDir);

  const captured = JSON.parse(
    await readFile(join(snapshotDir, chConfigFile), 'utf8'),
  ) as ChVmConfig;
  const config = retargetConfig(captured, req.spec, serialPath);
  await writeFile(join(sourceDir, chConfigFile), `${JSON.stringify(config, null, 2)}\n`);

  for (const file of manifest.files) {
    if (file.role === 'memory' || file.role === 'device-state') {
      await symlink(join(snapshotDir, file.path), join(sourceDir, file.path));
    }
  }
}
