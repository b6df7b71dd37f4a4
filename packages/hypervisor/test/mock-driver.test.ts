import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeMemory, type MockClock, MockDriver } from '../src/mock/index.js';
import { ResumeAfterSnapshotError, type VmSpec } from '../src/types.js';

/** A clock that moves only when the test says so. */
class ManualClock implements MockClock {
  current = Date.parse('2025-03-01T00:00:00Z');
  private timers: { at: number; resolve: () => void }[] = [];
  now() {
    return this.current;
  }
  sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.current + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(signal.reason);
      });
    });
  }
  /** Waits (in real time, briefly) until some code is asleep on this clock. */
  async untilSleeping() {
    for (let i = 0; i < 1000 && this.timers.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  async advance(ms: number) {
    this.current += ms;
    const due = this.timers.filter((t) => t.at <= this.current);
    this.timers = this.timers.filter((t) => t.at > this.current);
    for (const t of due) t.resolve();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

let root: string;
let clock: ManualClock;
let driver: MockDriver;

async function guestFiles(name: string): Promise<{ spec: VmSpec; runDir: string }> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(root, 'kernel'), 'kernel');
  await writeFile(join(dir, 'disk0.qcow2'), `disk of ${name}`);
  return {
    runDir: join(dir, 'run'),
    spec: {
      vcpus: 1,
      memoryMiB: 256,
      kernel: join(root, 'kernel'),
      cmdline: 'console=ttyS0',
      disks: [{ id: 'disk0', path: join(dir, 'disk0.qcow2'), format: 'qcow2' }],
      serialLogPath: join(dir, 'serial.log'),
    },
  };
}

async function emptyDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-mock-'));
  clock = new ManualClock();
  driver = new MockDriver({ clock });
});

afterEach(async () => {
  driver.faults.releaseHangs();
  await rm(root, { recursive: true, force: true });
});

describe('MockDriver start', () => {
  it('boots a running guest with pid 0, a banner on the serial log and a state file', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    expect(vm.pid).toBe(0);
    expect(await vm.status()).toBe('running');
    expect(await readFile(spec.serialLogPath, 'utf8')).toMatch(/^Linux version mock/);
    expect(await readdir(runDir)).toContain('mock-vm.json');
    expect(driver.calls.kinds()).toEqual(['start']);
  });

  it('fails like a VMM when a disk the spec names is missing', async () => {
    const { spec, runDir } = await guestFiles('a');
    await rm(spec.disks[0]!.path);
    await expect(driver.start({ spec, runDir })).rejects.toThrow(/cannot open .*disk0/);
  });
});

describe('MockDriver snapshot', () => {
  it('pauses, writes memory and disks with relative paths, then resumes a running guest', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    await vm.tick();
    const dir = await emptyDir('snap');
    const manifest = await vm.snapshot(dir);

    expect(await vm.status()).toBe('running');
    expect(driver.calls.kinds()).toEqual([
      'start',
      'snapshot-begin',
      'pause',
      'resume',
      'snapshot-end',
    ]);
    expect(manifest.files.map((f) => f.path)).toEqual(['memory.bin', 'disk0.qcow2']);
    expect(manifest.runstateAtSnapshot).toBe('running');
    const memory = decodeMemory(await readFile(join(dir, 'memory.bin')));
    expect(memory).toMatchObject({ bootId: vm.guestState.bootId, ticks: 1, memoryMiB: 256 });
    expect(await readFile(join(dir, 'disk0.qcow2'), 'utf8')).toBe('disk of a');
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toEqual(manifest);
  });

  it('captures a paused guest without resuming it and reports no pause time', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    await vm.pause();
    const manifest = await vm.snapshot(await emptyDir('snap'), { includeDisks: false });
    expect(await vm.status()).toBe('paused');
    expect(manifest.pauseMs).toBe(0);
    expect(manifest.runstateAtSnapshot).toBe('paused');
    expect(manifest.files.map((f) => f.role)).toEqual(['memory']);
    expect(driver.calls.kinds()).not.toContain('resume');
  });

  it('measures the pause window on the injected clock', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('snapshot', { delayMs: 250 });
    const capture = vm.snapshot(await emptyDir('snap'));
    await clock.untilSleeping();
    await clock.advance(250);
    const manifest = await capture;
    expect(manifest.pauseMs).toBe(250);
    expect(driver.calls.pauseWindows()).toEqual([
      { runDir, pausedAt: clock.current - 250, resumedAt: clock.current, closedBy: 'resume' },
    ]);
  });

  it('removes what it wrote and resumes exactly once when the capture fails', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('snapshot', { fail: 'disk full' });
    const dir = await emptyDir('snap');
    await expect(vm.snapshot(dir)).rejects.toThrow('mock snapshot failed: disk full');
    expect(await vm.status()).toBe('running');
    expect(await readdir(dir)).toEqual([]);
    expect(driver.calls.kinds()).toEqual([
      'start',
      'snapshot-begin',
      'pause',
      'snapshot-failed',
      'resume',
    ]);
    expect(driver.calls.violations()).toEqual([]);
  });

  it('keeps a complete snapshot and leaves the guest paused when the resume fails', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('resume', { fail: 'vCPU stuck' });
    const dir = await emptyDir('snap');
    const error = await vm.snapshot(dir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ResumeAfterSnapshotError);
    expect((error as ResumeAfterSnapshotError).manifest.files).toHaveLength(2);
    expect((await readdir(dir)).sort()).toEqual(['disk0.qcow2', 'manifest.json', 'memory.bin']);
    expect(await vm.status()).toBe('paused');
    await vm.resume();
    expect(await vm.status()).toBe('running');
  });

  it('hangs until the abort signal fires, then cleans up and resumes', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('snapshot', { hang: true });
    const abort = new AbortController();
    const dir = await emptyDir('snap');
    const capture = vm.snapshot(dir, { signal: abort.signal });
    await clock.advance(60_000);
    expect(await vm.status()).toBe('paused');
    abort.abort(new Error('capture timed out'));
    await expect(capture).rejects.toThrow('capture timed out');
    expect(await vm.status()).toBe('running');
    expect(await readdir(dir)).toEqual([]);
  });

  it('flags a second snapshot of one VM started while the first is in flight', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('snapshot', { delayMs: 100 });
    const first = vm.snapshot(await emptyDir('s1'));
    const second = vm.snapshot(await emptyDir('s2'));
    await clock.untilSleeping();
    await clock.advance(100);
    await Promise.all([first, second]);
    expect(driver.calls.violations().map((v) => v.problem)).toContain(
      'snapshot started while another is in flight',
    );
  });
});

describe('MockDriver restore', () => {
  it('continues the guest from the snapshot: same boot id, next tick, no banner', async () => {
    const source = await guestFiles('a');
    const vm = await driver.start(source);
    await vm.tick();
    await vm.tick();
    const dir = await emptyDir('snap');
    await vm.snapshot(dir);
    const target = await guestFiles('b');
    const restored = await driver.restore({
      snapshotDir: dir,
      spec: target.spec,
      runDir: target.runDir,
    });

    expect(await restored.status()).toBe('running');
    expect(restored.guestState).toEqual({ bootId: vm.guestState.bootId, ticks: 2 });
    await restored.tick();
    const log = await readFile(target.spec.serialLogPath, 'utf8');
    expect(log).toBe(`tick 3 boot_id=${vm.guestState.bootId}\n`);
    expect(driver.calls.kinds(target.runDir)).toEqual(['restore', 'resume']);
  });

  it('refuses a memory size that differs from the snapshot', async () => {
    const source = await guestFiles('a');
    const vm = await driver.start(source);
    const dir = await emptyDir('snap');
    await vm.snapshot(dir);
    const target = await guestFiles('b');
    const spec = { ...target.spec, memoryMiB: 512 };
    await expect(driver.restore({ snapshotDir: dir, spec, runDir: target.runDir })).rejects.toThrow(
      'memory size mismatch: snapshot has 256 MiB, spec has 512 MiB',
    );
  });

  it('leaves the guest paused when asked to', async () => {
    const source = await guestFiles('a');
    const vm = await driver.start(source);
    const dir = await emptyDir('snap');
    await vm.snapshot(dir);
    const target = await guestFiles('b');
    const restored = await driver.restore({ snapshotDir: dir, ...target, resume: false });
    expect(await restored.status()).toBe('paused');
  });
});

describe('MockDriver attach', () => {
  it('re-attaches a guest left running by an earlier driver, in its state', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    await vm.tick();
    await vm.pause();
    await vm.detach();

    const restarted = new MockDriver({ clock });
    const again = await restarted.attach(runDir, spec);
    expect(again).toBeDefined();
    expect(await again!.status()).toBe('paused');
    expect(again!.guestState).toEqual(vm.guestState);
  });

  it('finds nothing to attach once the VM has exited', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    await vm.kill();
    expect(await new MockDriver({ clock }).attach(runDir, spec)).toBeUndefined();
  });
});

describe('MockDriver exit', () => {
  it('reports a guest power-off through exited and an exit event', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    const events: string[] = [];
    vm.on((e) => events.push(e.type === 'state' ? `state:${e.state}` : e.type));
    await vm.powerOff();
    expect(await vm.exited).toEqual({ code: 0, signal: null, stderrTail: '' });
    expect(events).toEqual(['state:exited', 'exit']);
    expect(await vm.status()).toBe('exited');
  });

  it('kills a guest that ignores the power button once the timeout passes', async () => {
    const { spec, runDir } = await guestFiles('a');
    const vm = await driver.start({ spec, runDir });
    driver.faults.inject('shutdown', { hang: true });
    const stopping = vm.shutdown({ timeoutMs: 5000 });
    await clock.untilSleeping();
    await clock.advance(4999);
    expect(await vm.status()).toBe('running');
    await clock.advance(1);
    expect(await stopping).toMatchObject({ code: null, signal: 'SIGKILL' });
  });
});

describe('FaultInjector', () => {
  it('applies a fault only to matching VMs and only the given number of times', async () => {
    const a = await guestFiles('vm-a');
    const b = await guestFiles('vm-b');
    driver.faults.inject('start', { fail: 'no memory' }, { match: 'vm-b', times: 2 });
    await expect(driver.start(a)).resolves.toBeDefined();
    await expect(driver.start(b)).rejects.toThrow('no memory');
    await expect(driver.start(b)).rejects.toThrow('no memory');
    await expect(driver.start(b)).resolves.toBeDefined();
    expect(driver.faults.armed).toBe(0);
  });
});
