/**
 * Starting a Cloud Hypervisor VMM with nothing but its API socket, and waiting until the API
 * answers. Both `start` (then `vm.create`) and `restore` (then `vm.restore`) begin here.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import { prepareSocketPath, socketPathFor } from '../process/socket-path.js';
import { VmmProcess } from '../process/vmm-process.js';
import { CloudHypervisorApi } from './api-client.js';
import { CloudHypervisorProcessError } from './errors.js';

const apiSocketName = 'api.sock';

/** Where one VMM keeps its files inside its run dir. */
export function runPaths(runDir: string) {
  return {
    /** In the run dir unless that path is too long for a unix socket (see `socketPathFor`). */
    socket: socketPathFor(runDir, apiSocketName),
    serialFifo: join(runDir, 'serial.fifo'),
    /** The snapshot as this restore presents it to CH (rewritten config.json + links). */
    restoreSource: join(runDir, 'restore-source'),
  };
}

export interface LaunchOptions {
  binary: string;
  runDir: string;
  logger: Logger;
  /** How long the API may take to answer its first ping. */
  startTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface LaunchedVmm {
  vmm: VmmProcess;
  api: CloudHypervisorApi;
  /** `version` from `vmm.ping`. */
  version: string;
}

const pingIntervalMs = 20;

/** Spawns `cloud-hypervisor --api-socket path=…` and waits for `vmm.ping` to answer. */
export async function launchVmm(options: LaunchOptions): Promise<LaunchedVmm> {
  await mkdir(options.runDir, { recursive: true });
  const socket = await prepareSocketPath(options.runDir, apiSocketName);
  // A socket left by an earlier VMM would make CH fail to bind.
  await rm(socket, { force: true });

  const vmm = await VmmProcess.spawn({
    binary: options.binary,
    args: ['--api-socket', `path=${socket}`],
    runDir: options.runDir,
    // A re-attach checks that the pid's argv still names this socket.
    identity: socket,
    logger: options.logger,
  });
  const api = new CloudHypervisorApi(socket, { timeoutMs: options.requestTimeoutMs });
  try {
    const version = await waitForApi(vmm, api, options.startTimeoutMs);
    return { vmm, api, version };
  } catch (err) {
    await api.close();
    await vmm.kill();
    throw err;
  }
}

async function waitForApi(
  vmm: VmmProcess,
  api: CloudHypervisorApi,
  timeoutMs: number,
): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadline) {
    if (vmm.hasExited) {
      throw new CloudHypervisorProcessError(
        'cloud-hypervisor exited before its API socket answered',
        await vmm.exited,
      );
    }
    try {
      const remainingMs = Math.max(Math.ceil(deadline - performance.now()), 1);
      const { version } = await api.ping(AbortSignal.timeout(remainingMs));
      return version;
    } catch (err) {
      // Until CH has bound the socket, connecting fails with ENOENT or ECONNREFUSED.
      lastError = err;
      await sleep(pingIntervalMs);
    }
  }
  throw new CloudHypervisorProcessError(
    `cloud-hypervisor's API socket did not answer within ${timeoutMs} ms`,
    undefined,
    { cause: lastError },
  );
}
