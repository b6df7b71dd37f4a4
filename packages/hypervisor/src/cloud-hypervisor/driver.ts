/**
 * The Cloud Hypervisor driver: boots guests in `cloud-hypervisor` processes driven over their
 * REST API socket, snapshots them with `vm.snapshot` plus disk copies, and restores them into
 * new processes.
 *
 * Known limits: qcow2 disks are copied as single files, so a snapshot of an overlay still
 * refers to its backing image by path; the pause during a snapshot lasts as long as the disk
 * copies, which is short only on a reflink-capable filesystem (XFS, btrfs).
 */
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../logger.js';
import { VmmProcess } from '../process/vmm-process.js';
import type {
  DriverOptions,
  HypervisorDriver,
  HypervisorProbe,
  RestoreRequest,
  StartRequest,
  Vm,
  VmSpec,
} from '../types.js';
import { CloudHypervisorApi } from './api-client.js';
import { findBinary } from './binary.js';
import { toVmConfig } from './config.js';
import { type LaunchedVmm, launchVmm, runPaths } from './launch.js';
import { restoreVm } from './restore.js';
import { startSerialRelay } from './serial-relay.js';
import { CloudHypervisorVm } from './vm.js';

export interface CloudHypervisorDriverOptions extends DriverOptions {
  /** Where `VMKEEP_CLOUD_HYPERVISOR_BIN` and `PATH` are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** CH runs guests only on KVM; probe reports unavailable when this device is not usable. */
  kvmDevicePath?: string;
  /** How long a new VMM may take to answer its first ping (default 10 s). */
  startTimeoutMs?: number;
  /** Deadline for one API request (default 60 s; a snapshot of a large guest is one request). */
  requestTimeoutMs?: number;
  /** Wall clock for manifest timestamps. */
  now?: () => Date;
}

const features = ['snapshots', 'standby', 'fork', 'pause'];

export class CloudHypervisorDriver implements HypervisorDriver {
  readonly kind = 'cloud-hypervisor';
  readonly #logger: Logger;
  readonly #env: NodeJS.ProcessEnv;
  readonly #kvmDevicePath: string;
  readonly #startTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #now: () => Date;
  #probe?: Promise<HypervisorProbe>;

  constructor(options: CloudHypervisorDriverOptions) {
    this.#logger = options.logger.child({ hypervisor: 'cloud-hypervisor' });
    this.#env = options.env ?? process.env;
    this.#kvmDevicePath = options.kvmDevicePath ?? '/dev/kvm';
    this.#startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** Cached: the binary, KVM, and the version a throwaway VMM answers `vmm.ping` with. */
  probe(): Promise<HypervisorProbe> {
    this.#probe ??= this.#runProbe();
    return this.#probe;
  }

  /**
   * 1. A VMM with only its API socket. 2. `vm.create` from the spec. 3. `vm.boot`, unless the
   * caller wants it paused: CH cannot boot with stopped vCPUs, so such a VM stays `Created`
   * (status `starting`) until `resume()` boots it.
   */
  async start(req: StartRequest): Promise<Vm> {
    const binary = await this.#binary();
    const runDir = resolve(req.runDir);
    const logger = this.#logger.child({ runDir });
    await mkdir(runDir, { recursive: true });
    const paths = runPaths(runDir);
    const relay = await startSerialRelay(paths.serialFifo, req.spec.serialLogPath);

    let launched: LaunchedVmm | undefined;
    try {
      launched = await launchVmm({ ...this.#launchOptions(binary), runDir, logger });
      await launched.api.create(toVmConfig(req.spec, paths.serialFifo));
      if (!req.paused) await launched.api.boot();
    } catch (err) {
      await launched?.api.close();
      await launched?.vmm.kill();
      await relay.stop(0);
      throw err;
    }

    logger.info({ pid: launched.vmm.pid, version: launched.version }, 'VM started');
    return new CloudHypervisorVm({
      ...launched,
      runDir,
      spec: req.spec,
      serialRelay: relay,
      logger,
      now: this.#now,
    });
  }

  async restore(req: RestoreRequest): Promise<Vm> {
    const binary = await this.#binary();
    return restoreVm(
      {
        ...this.#launchOptions(binary),
        logger: this.#logger.child({ runDir: req.runDir }),
        now: this.#now,
      },
      req,
    );
  }

  /**
   * Finds the VMM an earlier server left in `runDir`: its recorded pid must still be that same
   * process (start time and the API socket in its argv; a reused pid is not ours), and the API
   * must answer.
   */
  async attach(runDir: string, spec: VmSpec): Promise<Vm | undefined> {
    const dir = resolve(runDir);
    const logger = this.#logger.child({ runDir: dir });
    const vmm = await VmmProcess.attach(dir, logger);
    if (!vmm) return undefined;

    const api = new CloudHypervisorApi(runPaths(dir).socket, { timeoutMs: this.#requestTimeoutMs });
    let version: string;
    try {
      ({ version } = await api.ping());
    } catch (err) {
      logger.warn({ err, pid: vmm.pid }, 'a VMM is running but its API does not answer');
      vmm.dispose();
      await api.close();
      return undefined;
    }
    logger.info({ pid: vmm.pid, version }, 'attached to a running VMM');
    return new CloudHypervisorVm({ vmm, api, version, runDir: dir, spec, logger, now: this.#now });
  }

  async #runProbe(): Promise<HypervisorProbe> {
    const unavailable = (reason: string): HypervisorProbe => ({
      kind: this.kind,
      available: false,
      reason,
      features: [],
    });
    const binary = await findBinary(this.#env);
    if ('reason' in binary) return unavailable(binary.reason);
    try {
      await access(this.#kvmDevicePath, constants.R_OK | constants.W_OK);
    } catch {
      return unavailable(
        `${this.#kvmDevicePath} is not usable; Cloud Hypervisor runs guests only on KVM`,
      );
    }

    const runDir = await mkdtemp(join(tmpdir(), 'vmkeep-ch-probe-'));
    try {
      const { vmm, api, version } = await launchVmm({
        ...this.#launchOptions(binary.path),
        runDir,
        logger: this.#logger,
      });
      // The VMM exits on vmm.shutdown; the kill only covers one that does not.
      await api.shutdownVmm().catch(() => undefined);
      await api.close();
      await vmm.kill({ graceMs: 500 });
      return { kind: this.kind, available: true, version, accel: 'kvm', features };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return unavailable(`${binary.path} did not start: ${reason}`);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }

  async #binary(): Promise<string> {
    const binary = await findBinary(this.#env);
    if ('reason' in binary) throw new Error(binary.reason);
    return binary.path;
  }

  #launchOptions(binary: string) {
    return {
      binary,
      startTimeoutMs: this.#startTimeoutMs,
      requestTimeoutMs: this.#requestTimeoutMs,
    };
  }
}
