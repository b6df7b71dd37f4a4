/** Locating the QEMU binary and reading its version, without starting a guest. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  /** The whole first line, e.g. `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. */
  full: string;
}

/**
 * Runs `<binary> --version`. Throws an error whose message says what to install when the binary
 * is missing.
 */
export async function readQemuVersion(binary: string): Promise<QemuVersion> {
  let stdout: string;
  try {
    ({ stdout } = await run(binary, ['--version'], { timeout: 10_000 }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(
        `${binary} not found: install QEMU (Debian: apt-get install qemu-system-x86)`,
      );
    }
    throw new Error(`${binary} --version failed: ${(error as Error).message}`);
  }
  const match = /version (\d+)\.(\d+)\.(\d+)(.*)/.exec(stdout);
  if (!match) throw new Error(`cannot read a version from "${stdout.split('\n')[0]}"`);
  return {
    major: Number(match[1]),
    minor: Number(match[2]),
    micro: Number(match[3]),
    full: `${match[1]}.${match[2]}.${match[3]}${match[4]?.trimEnd() ?? ''}`,
  };
}

/**
 * The newest versioned q35 machine type this binary offers, `pc-q35-<major>.<minor>`. A versioned
 * type (never the `q35` alias) keeps the device model stable across QEMU upgrades, which a
 * snapshot taken today needs to be restorable tomorrow.
 */
export function defaultMachineType(version: QemuVersion): string {
  return `pc-q35-${version.major}.${version.minor}`;
}
