/**
 * Spawning QEMU for a spec and opening its QMP connection; shared by start, restore and attach.
 * A QEMU that exits before answering is reported with the tail of its stderr, which is where it
 * says why (a missing disk, a bad option, a device model mismatch).
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { connectUnixSocket } from '../process/connect.js';
import { prepareSocketPath } from '../process/socket-path.js';
import { VmmProcess } from '../process/vmm-process.js';
import { QmpClient } from '../qmp/client.js';
import type { VmSpec } from '../types.js';
import { buildQemuArgs, type LaunchMode, type QemuLaunch } from './args.js';
import { QemuError } from './errors.js';
import { configureMigration } from './migration.js';

export const QMP_SOCKET = 'qmp.sock';

/** What `vmm.json` records for a re-attach. */
export interface QemuRecordMeta extends Record<string, unknown> {
  launch: QemuLaunch;
  qemuVersion: string;
}

export interface LaunchRequest {
  binary: string;
  qemuVersion: string;
  spec: VmSpec;
  runDir: string;
  launch: Omit<QemuLaunch, 'qmpSocket'>;
  mode?: LaunchMode;
  logger: Logger;
  /** How long QEMU may take to listen on QMP (default 15 s). */
  timeoutMs?: number;
}

export interface Launched {
  vmm: VmmProcess;
  qmp: QmpClient;
  launch: QemuLaunch;
}

/** Spawns QEMU detached and returns once QMP is negotiated; kills it on any failure. */
export async function launchQemu(req: LaunchRequest): Promise<Launched> {
  await mkdir(req.runDir, { recursive: true });
  const qmpSocket = await prepareSocketPath(req.runDir, QMP_SOCKET);
  const launch: QemuLaunch = { ...req.launch, qmpSocket };
  const meta: QemuRecordMeta = { launch, qemuVersion: req.qemuVersion };
  const vmm = await VmmProcess.spawn({
    binary: req.binary,
    args: buildQemuArgs(req.spec, launch, req.mode),
    runDir: req.runDir,
    // As it appears in QEMU's argv (commas doubled), where a re-attach looks for it.
    identity: qmpSocket.replaceAll(',', ',,'),
    meta,
    logger: req.logger,
  });
  try {
    const socket = await connectUnixSocket(qmpSocket, {
      timeoutMs: req.timeoutMs ?? 15_000,
      gaveUp: () => vmm.hasExited,
    });
    const qmp = await QmpClient.connect(socket, { logger: req.logger });
    await configureMigration(qmp);
    return { vmm, qmp, launch };
  } catch (error) {
    const exit = await vmm.kill({ graceMs: 500 });
    const why = (error as Error).message;
    throw new QemuError('start_failed', `QEMU did not start (${why})`, exit.stderrTail, {
      cause: error,
    });
  }
}

/**
 * Connects to the QEMU a previous server left running in `vmm.runDir`. Migration settings are
 * not applied here: QEMU refuses them while a migration the previous server started still runs,
 * so the caller applies them ({@link configureMigration}) once it has recovered from that.
 */
export async function reconnectQemu(vmm: VmmProcess, logger: Logger): Promise<Launched> {
  const meta = vmm.record.meta as Partial<QemuRecordMeta>;
  if (!meta.launch) throw new QemuError('invalid_state', `no QEMU launch record in ${vmm.runDir}`);
  try {
    const socket = await connectUnixSocket(meta.launch.qmpSocket, { timeoutMs: 2000 });
    // QEMU serves one QMP client at a time: if another process still holds the monitor, the
    // greeting never comes and this times out.
    const qmp = await QmpClient.connect(socket, { logger, timeoutMs: 5000 });
    return { vmm, qmp, launch: meta.launch };
  } catch (error) {
    throw new QemuError('unresponsive', `QEMU (pid ${vmm.pid}) does not answer on QMP`, '', {
      cause: error,
    });
  }
}
