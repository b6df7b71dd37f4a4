/**
 * The QEMU driver: boots guests from a {@link VmSpec}, restores snapshots into new processes and
 * re-attaches to guests an earlier server left running. One QEMU process and one QMP connection
 * per guest; see `vm.ts` for the per-guest operations and `snapshot.ts` for capture.
 */

import { access } from 'node:fs/promises';
import {
  type AccelSetting,
  type AccelVerdict,
  accelSettingFromEnv,
  probeAccel,
} from '../accel-probe.js';
import { cacheDir, defaultGuestImage, type GuestImage } from '../guest-image.js';
import { type Logger, silentLogger } from '../logger.js';
import { VmmProcess } from '../process/vmm-process.js';
import type {
  Accel,
  DriverOptions,
  HypervisorDriver,
  HypervisorProbe,
  RestoreRequest,
  StartRequest,
  VmSpec,
} from '../types.js';
import {
  DEFAULT_QEMU_BINARY,
  defaultMachineType,
  type QemuVersion,
  readQemuVersion,
} from './binary.js';
import { QemuError } from './errors.js';
import { type Launched, launchQemu, reconnectQemu } from './launch.js';
import { configureMigration } from './migration.js';
import { recoverLeftovers } from './recover.js';
import { restoreQemu } from './restore.js';
import { QemuVm } from './vm.js';

export interface QemuDriverOptions extends Partial<DriverOptions> {
  /** Default `VMKEEP_QEMU_BINARY`, else `qemu-system-x86_64` from PATH. */
  binary?: string;
  /** Default `VMKEEP_ACCEL`, else `auto` (canary boot, cached). */
  accel?: AccelSetting;
  /** Where accel verdicts are cached; default vmkeep's cache dir. */
  cacheDir?: string;
  /** The guest the accel canary boots; default the project's default guest, when built. */
  canaryGuest?: GuestImage;
  canaryDeadlineMs?: number;
  /**
   * `auto` (default): capture running guests with `background-snapshot` when possible;
   * `stop-copy`: keep the guest paused for the whole memory write (for comparison, or hosts
   * where userfaultfd misbehaves).
   */
  snapshotMethod?: 'auto' | 'stop-copy';
}

/** Feature ids reported by {@link QemuDriver.probe}. */
export const QEMU_FEATURES = ['snapshots', 'standby', 'fork', 'pause'];

export class QemuDriver implements HypervisorDriver {
  readonly kind = 'qemu' as const;
  readonly binary: string;
  #opts: QemuDriverOptions;
  #logger: Logger;
  #version?: Promise<QemuVersion>;
  #accel?: Promise<AccelVerdict>;
  #probe?: Promise<HypervisorProbe>;

  constructor(opts: QemuDriverOptions = {}) {
    this.#opts = opts;
    this.#logger = (opts.logger ?? silentLogger).child({ hypervisor: 'qemu' });
    this.binary = opts.binary ?? process.env.VMKEEP_QEMU_BINARY ?? DEFAULT_QEMU_BINARY;
  }

  /** Version, accelerator (canary-tested, cached) and features; `available: false` with why. */
  probe(): Promise<HypervisorProbe> {
    this.#probe ??= (async (): Promise<HypervisorProbe> => {
      try {
        const version = await this.#qemuVersion();
        const verdict = await this.#accelVerdict();
        return {
          kind: 'qemu',
          available: true,
          version: version.full,
          accel: verdict.accel,
          features: [...QEMU_FEATURES],
        };
      } catch (error) {
        this.#probe = undefined;
        return { kind: 'qemu', available: false, reason: (error as Error).message, features: [] };
      }
    })();
    return this.#probe;
  }

  async start(req: StartRequest): Promise<QemuVm> {
    const { version, accel } = await this.#ready();
    const logger = this.#logger.child({ runDir: req.runDir });
    const launched = await launchQemu({
      binary: this.binary,
      qemuVersion: version.full,
      spec: req.spec,
      runDir: req.runDir,
      launch: {
        machine: req.spec.machine ?? defaultMachineType(version),
        accel,
        cpu: cpuModel(accel),
      },
      mode: { paused: req.paused },
      logger,
    });
    logger.info({ pid: launched.vmm.pid, accel }, 'guest started');
    return this.#vm(launched, req.spec, version, logger);
  }

  async restore(req: RestoreRequest): Promise<QemuVm> {
    const { version, accel } = await this.#ready();
    const logger = this.#logger.child({ runDir: req.runDir });
    const launched = await restoreQemu(
      {
        binary: this.binary,
        qemuVersion: version.full,
        accel,
        defaultMachine: defaultMachineType(version),
        defaultCpu: cpuModel(accel),
        logger,
      },
      req,
    );
    return this.#vm(launched, req.spec, version, logger);
  }

  async attach(runDir: string, spec: VmSpec): Promise<QemuVm | undefined> {
    const logger = this.#logger.child({ runDir });
    const vmm = await VmmProcess.attach(runDir, logger);
    if (!vmm) return undefined;
    let launched: Launched | undefined;
    try {
      launched = await reconnectQemu(vmm, logger);
      const { qmp } = launched;

      // 1. A capture the previous server was cut in may have left an overlay, a migration or a
      //    block job behind (see `recover.ts`); the next capture would fail on them. A failure
      //    here does not fail the attach: the guest runs, and each capture retries and reports.
      const target = { qmp, pid: vmm.pid, runDir, spec, logger };
      await recoverLeftovers(target, { resume: true }).catch((error) => {
        logger.error({ err: error }, 'could not recover from an interrupted snapshot');
      });

      // 2. Only now: QEMU refuses migration settings while a migration runs.
      await configureMigration(qmp).catch((error) => {
        throw new QemuError('unresponsive', `QEMU (pid ${vmm.pid}) refused its settings`, '', {
          cause: error,
        });
      });
      return this.#vm(launched, spec, await this.#qemuVersion(), logger);
    } catch (error) {
      vmm.dispose();
      await launched?.qmp.close();
      throw error;
    }
  }

  #vm(
    launched: { vmm: VmmProcess; qmp: QemuVm['qmp']; launch: QemuVm['launch'] },
    spec: VmSpec,
    version: QemuVersion,
    logger: Logger,
  ): QemuVm {
    return new QemuVm({
      ...launched,
      spec: { ...spec, machine: launched.launch.machine },
      qemuVersion: version.full,
      snapshotMethod: this.#opts.snapshotMethod ?? 'auto',
      logger,
    });
  }

  async #ready(): Promise<{ version: QemuVersion; accel: Accel }> {
    const [version, verdict] = await Promise.all([this.#qemuVersion(), this.#accelVerdict()]);
    return { version, accel: verdict.accel };
  }

  #qemuVersion(): Promise<QemuVersion> {
    this.#version ??= readQemuVersion(this.binary).catch((error) => {
      this.#version = undefined;
      throw error;
    });
    return this.#version;
  }

  /** The accelerator verdict with its reason (canary result, cache or configuration). */
  accelerator(): Promise<AccelVerdict> {
    return this.#accelVerdict();
  }

  #accelVerdict(): Promise<AccelVerdict> {
    this.#accel ??= (async () => {
      const version = await this.#qemuVersion();
      const verdict = await probeAccel({
        binary: this.binary,
        qemuVersion: version.full,
        setting: this.#opts.accel ?? accelSettingFromEnv(),
        cacheDir: this.#opts.cacheDir ?? cacheDir(),
        guest: this.#opts.canaryGuest ?? (await builtDefaultGuest()),
        canaryDeadlineMs: this.#opts.canaryDeadlineMs,
        logger: this.#logger,
      });
      this.#logger.info({ accel: verdict.accel, reason: verdict.reason }, 'accelerator chosen');
      return verdict;
    })().catch((error) => {
      this.#accel = undefined;
      throw error;
    });
    return this.#accel;
  }
}

/** `host` under KVM; under TCG a fixed model, so snapshots restore into the same CPU. */
function cpuModel(accel: Accel): string {
  return accel === 'kvm' ? 'host' : 'qemu64';
}

async function builtDefaultGuest(): Promise<GuestImage | undefined> {
  const image = defaultGuestImage();
  try {
    await Promise.all([access(image.kernel), access(image.initrd)]);
    return image;
  } catch {
    return undefined;
  }
}
