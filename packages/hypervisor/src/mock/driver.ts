/**
 * A hypervisor driver with no hypervisor: `MockDriver` boots "guests" that are a state machine
 * and a few files, so the domain, the scheduler and the HTTP API can be tested (and
 * benchmarked) without QEMU. It keeps the real drivers' contract — snapshot leaves the guest in
 * the state it found it and fails atomically, restore starts a new VMM and never touches the
 * snapshot, attach re-connects to a VMM a previous server left running — and adds an ordered
 * call log and fault injection for tests.
 */
import { randomUUID } from 'node:crypto';
import { access, constants, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, silentLogger } from '../logger.js';
import type {
  HypervisorDriver,
  HypervisorProbe,
  RestoreRequest,
  SnapshotManifest,
  StartRequest,
  VmSpec,
} from '../types.js';
import { CallLog } from './call-log.js';
import { FaultInjector, MockFaultError, type MockOp } from './faults.js';
import { decodeMemory, readStateFile } from './payload.js';
import { appendSerial } from './serial.js';
import { type MockClock, MockVm, waitForAbort } from './vm.js';

/** How to build a {@link MockDriver}. */
export interface MockDriverOptions {
  /** Timestamps in the call log and every delay come from this clock (default: real time). */
  clock?: MockClock;
  logger?: Logger;
  /** Reported by `probe()` and written into manifests. */
  version?: string;
}

const realClock: MockClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** The mock hypervisor driver (kind `mock`); see the module doc. */
export class MockDriver implements HypervisorDriver {
  readonly kind = 'mock' as const;
  /** Arm faults here: `driver.faults.inject('snapshot', { fail: 'disk full' })`. */
  readonly faults = new FaultInjector();
  /** Every start, pause, resume, snapshot, exit … of every VM, in order. */
  readonly calls: CallLog;
  private readonly clock: MockClock;
  private readonly logger: Logger;
  private readonly version: string;
  private readonly live = new Map<string, MockVm>();

  constructor(opts: MockDriverOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.logger = (opts.logger ?? silentLogger).child({ hypervisor: 'mock' });
    this.version = opts.version ?? 'mock-1';
    this.calls = new CallLog(() => this.clock.now());
  }

  async probe(): Promise<HypervisorProbe> {
    return {
      kind: 'mock',
      available: true,
      version: this.version,
      accel: 'tcg',
      features: ['snapshots', 'standby', 'fork', 'pause'],
    };
  }

  async start(req: StartRequest): Promise<MockVm> {
    await this.applyFault('start', req.runDir);
    await assertReadable(req.spec);
    await mkdir(req.runDir, { recursive: true });
    const guest = { bootId: randomUUID(), ticks: 0 };
    // A cold boot prints a kernel banner; a restore never does (tests tell them apart by it).
    await appendSerial(req.spec.serialLogPath, 'Linux version mock (vmkeep mock hypervisor)');
    await appendSerial(req.spec.serialLogPath, `mock guest up boot_id=${guest.bootId}`);
    const initial = req.paused ? 'paused' : 'running';
    const vm = this.adopt(new MockVm(this.host, req.runDir, req.spec, guest, initial));
    await vm.persist();
    this.calls.record(req.runDir, 'start', req.paused ? 'paused' : undefined);
    this.logger.debug({ runDir: req.runDir }, 'mock VM started');
    return vm;
  }

  async restore(req: RestoreRequest): Promise<MockVm> {
    await this.applyFault('restore', req.runDir);
    const manifest = JSON.parse(
      await readFile(join(req.snapshotDir, 'manifest.json'), 'utf8'),
    ) as SnapshotManifest;
    if (manifest.hypervisor !== 'mock') {
      throw new Error(`cannot restore a ${manifest.hypervisor} snapshot with the mock driver`);
    }
    const memoryFile = manifest.files.find((f) => f.role === 'memory');
    if (manifest.kind !== 'memory' || !memoryFile) {
      throw new Error('cannot restore a disk-only snapshot: it has no memory image');
    }
    const memory = decodeMemory(await readFile(join(req.snapshotDir, memoryFile.path)));
    // Like QEMU's "Size mismatch: pc.ram", a restore into another device model fails.
    if (memory.memoryMiB !== req.spec.memoryMiB) {
      throw new Error(
        `memory size mismatch: snapshot has ${memory.memoryMiB} MiB, spec has ${req.spec.memoryMiB} MiB`,
      );
    }
    await assertReadable(req.spec);
    await mkdir(req.runDir, { recursive: true });
    const guest = { bootId: memory.bootId, ticks: memory.ticks };
    const vm = this.adopt(new MockVm(this.host, req.runDir, req.spec, guest, 'paused'));
    await vm.persist();
    this.calls.record(req.runDir, 'restore', 'paused');
    if (req.resume !== false) {
      try {
        await vm.resume();
      } catch (err) {
        await vm.kill();
        throw err;
      }
    }
    return vm;
  }

  async attach(runDir: string, _spec: VmSpec): Promise<MockVm | undefined> {
    const existing = this.live.get(runDir);
    if (existing) return existing;
    const state = await readStateFile(runDir);
    if (!state) return undefined;
    const guest = { bootId: state.bootId, ticks: state.ticks };
    const vm = this.adopt(new MockVm(this.host, runDir, state.spec, guest, state.state));
    this.calls.record(runDir, 'attach', state.state === 'paused' ? 'paused' : undefined);
    return vm;
  }

  /** The live VM whose run directory contains `filter` (an instance id works). */
  vm(filter: string): MockVm | undefined {
    for (const [runDir, vm] of this.live) if (runDir.includes(filter)) return vm;
    return undefined;
  }

  /** Every VM this driver controls that has not exited or been detached. */
  get liveVms(): MockVm[] {
    return [...this.live.values()];
  }

  private get host() {
    return {
      clock: this.clock,
      calls: this.calls,
      faults: this.faults,
      version: this.version,
      forget: (vm: MockVm) => {
        if (this.live.get(vm.runDir) === vm) this.live.delete(vm.runDir);
      },
    };
  }

  private adopt(vm: MockVm): MockVm {
    this.live.set(vm.runDir, vm);
    return vm;
  }

  private async applyFault(op: MockOp, runDir: string): Promise<void> {
    const fault = this.faults.take({ op, runDir });
    if (!fault) return;
    if ('fail' in fault) throw new MockFaultError(op, fault.fail);
    if ('delayMs' in fault) return this.clock.sleep(fault.delayMs);
    await waitForAbort(this.faults.releaseSignal);
  }
}

/** Fails like a VMM would when the kernel or a disk the spec names is missing. */
async function assertReadable(spec: VmSpec): Promise<void> {
  for (const path of [spec.kernel, spec.initrd, ...spec.disks.map((d) => d.path)]) {
    if (path === undefined) continue;
    try {
      await access(path, constants.R_OK);
    } catch {
      throw new Error(`mock VMM cannot open ${path}: no such file or not readable`);
    }
  }
}
