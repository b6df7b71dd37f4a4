/**
 * Finding the `cloud-hypervisor` executable: `VMKEEP_CLOUD_HYPERVISOR_BIN` when set, else the
 * first `cloud-hypervisor` on PATH.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

export const binaryEnvVar = 'VMKEEP_CLOUD_HYPERVISOR_BIN';
const binaryName = 'cloud-hypervisor';

/** Either the executable's path, or why there is none, in words a user can act on. */
export type BinaryLookup = { path: string } | { reason: string };

export async function findBinary(env: NodeJS.ProcessEnv): Promise<BinaryLookup> {
  const configured = env[binaryEnvVar];
  if (configured) {
    if (!isAbsolute(configured)) {
      return { reason: `${binaryEnvVar}=${configured} must be an absolute path` };
    }
    if (await isExecutable(configured)) return { path: configured };
    return { reason: `${binaryEnvVar}=${configured} is not an executable file` };
  }

  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, binaryName);
    if (await isExecutable(candidate)) return { path: candidate };
  }
  return {
    reason: `${binaryName} was not found on PATH; install Cloud Hypervisor or set ${binaryEnvVar} to its path`,
  };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    // access() says yes for a searchable directory too.
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
