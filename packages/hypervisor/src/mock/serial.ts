/** The mock guest's serial console: lines appended to the spec's serial log file. */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Appends one line to a serial log, creating its directory. */
export async function appendSerial(path: string, line: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, `${line}\n`);
}
