/**
 * Deciding between KVM and TCG. "/dev/kvm opens" is not proof: on vmkeep's build machines KVM is
 * a paravirtual nested flavour that initialises fine, then needs ~50 s to decompress a kernel and
 * dies with an emulation failure. The only reliable test is a canary boot of the default guest
 * under `-accel kvm -cpu host` that must print its init marker within a deadline. The verdict is
 * cached per host (kernel release + QEMU version + loaded kvm modules), because the canary costs
 * its whole deadline whenever KVM does not work.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GUEST_INIT_MARKER, type GuestImage } from './guest-image.js';
import { type Logger, silentLogger } from './logger.js';
import { writeAtomically } from './process/atomic-write.js';
import { VmmProcess } from './process/vmm-process.js';
import type { Accel } from './types.js';

export type AccelSetting = Accel | 'auto';

export interface AccelVerdict {
  accel: Accel;
  /** Why, in words for `GET /capabilities` and the logs. */
  reason: string;
  /** True when the verdict came from the cache rather than a fresh probe. */
  cached: boolean;
}

export interface AccelProbeOptions {
  binary: string;
  /** The binary's version line; part of the cache key. */
  qemuVersion: string;
  /** `auto` (default) probes; `kvm` / `tcg` are taken as given. */
  setting?: AccelSetting;
  /** Verdicts are cached in `<cacheDir>/accel/`. */
  cacheDir: string;
  /** The canary guest; without one, `auto` falls back to TCG (and caches nothing). */
  guest?: GuestImage;
  /** How long the canary may take to reach its init (default 10 s; TCG needs ~2 s). */
  canaryDeadlineMs?: number;
  /** Where the canary's run dir goes (default: the system temp dir). */
  tempDir?: string;
  logger?: Logger;
}

/** Reads `VMKEEP_ACCEL` (`kvm`, `tcg` or `auto`; default `auto`). */
export function accelSettingFromEnv(env: NodeJS.ProcessEnv = process.env): AccelSetting {
  const value = (env.VMKEEP_ACCEL ?? 'auto').trim().toLowerCase();
  if (value === 'kvm' || value === 'tcg' || value === 'auto') return value;
  throw new Error(`VMKEEP_ACCEL=${env.VMKEEP_ACCEL} is not one of kvm, tcg, auto`);
}

/** Decides the accelerator; see the module comment for why it boots a canary. */
export async function probeAccel(opts: AccelProbeOptions): Promise<AccelVerdict> {
  const setting = opts.setting ?? 'auto';
  if (setting !== 'auto')
    return { accel: setting, reason: `configured: ${setting}`, cached: false };

  const cacheFile = join(opts.cacheDir, 'accel', `${await hostKey(opts.qemuVersion)}.json`);
  const cached = await readCached(cacheFile);
  if (cached) return { ...cached, cached: true };

  const verdict = await decide(opts);
  if (verdict.final) {
    await mkdir(join(opts.cacheDir, 'accel'), { recursive: true });
    const record = { accel: verdict.accel, reason: verdict.reason };
    await writeAtomically(cacheFile, `${JSON.stringify(record)}\n`);
  }
  return { accel: verdict.accel, reason: verdict.reason, cached: false };
}

/** `final: false` marks verdicts that a later probe might reverse (no canary image yet). */
async function decide(opts: AccelProbeOptions): Promise<AccelVerdict & { final: boolean }> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return {
      accel: 'tcg',
      reason: '/dev/kvm is missing or not accessible',
      cached: false,
      final: true,
    };
  }
  if (!opts.guest) {
    return {
      accel: 'tcg',
      reason: 'no canary guest image to test KVM with',
      cached: false,
      final: false,
    };
  }
  const deadlineMs = opts.canaryDeadlineMs ?? 10_000;
  const outcome = await bootCanary(opts, opts.guest, deadlineMs);
  if (outcome.ok) {
    return {
      accel: 'kvm',
      reason: `KVM canary reached init in ${outcome.ms} ms`,
      cached: false,
      final: true,
    };
  }
  return { accel: 'tcg', reason: `KVM canary failed: ${outcome.why}`, cached: false, final: true };
}

async function bootCanary(
  opts: AccelProbeOptions,
  guest: GuestImage,
  deadlineMs: number,
): Promise<{ ok: true; ms: number } | { ok: false; why: string }> {
  const logger = opts.logger ?? silentLogger;
  const runDir = await mkdtemp(join(opts.tempDir ?? '/tmp', 'vmkeep-canary-'));
  const serial = join(runDir, 'serial.log');
  const started = Date.now();
  let vmm: VmmProcess | undefined;
  try {
    vmm = await VmmProcess.spawn({
      binary: opts.binary,
      runDir,
      identity: serial,
      logger,
      args: [
        ...['-accel', 'kvm', '-cpu', 'host', '-machine', 'q35', '-m', '128'],
        ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
        ...['-serial', `file:${serial}`],
        ...['-kernel', guest.kernel, '-initrd', guest.initrd],
        ...['-append', `${guest.cmdline} noacpid`],
      ],
    });
    while (Date.now() - started < deadlineMs) {
      const output = await readFile(serial, 'utf8').catch(() => '');
      if (output.includes(GUEST_INIT_MARKER)) return { ok: true, ms: Date.now() - started };
      if (vmm.hasExited) {
        const tail = (await vmm.exited).stderrTail.split('\n').slice(-2).join(' ');
        return { ok: false, why: `QEMU exited before the guest's init ran (${tail})` };
      }
      await sleep(100);
    }
    return { ok: false, why: `no init marker within ${deadlineMs} ms` };
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  } finally {
    await vmm?.kill({ graceMs: 500 });
    await rm(runDir, { recursive: true, force: true });
  }
}

/** Kernel release, QEMU version and the loaded kvm modules: what makes KVM work or not. */
async function hostKey(qemuVersion: string): Promise<string> {
  const modules = await readFile('/proc/modules', 'utf8').catch(() => '');
  const kvm = modules
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith('kvm'))
    .sort();
  const key = [release(), qemuVersion, ...kvm].join('\n');
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

async function readCached(path: string): Promise<Omit<AccelVerdict, 'cached'> | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as { accel?: string; reason?: string };
    if (record.accel !== 'kvm' && record.accel !== 'tcg') return undefined;
    return { accel: record.accel, reason: record.reason ?? '' };
  } catch {
    return undefined;
  }
}
