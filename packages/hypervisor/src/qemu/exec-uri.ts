/**
 * `exec:` migration URIs. QEMU 7.2 has no `file:` transport: it hands the text after `exec:` to
 * `/bin/sh -c`. Every path is therefore single-quoted for the shell, so no file name can inject
 * a command.
 */
import { isAbsolute } from 'node:path';

/** Quotes `value` as one POSIX shell word: `'…'`, with each `'` written as `'\''`. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** `migrate` target that writes the stream to the absolute `path` (created or truncated). */
export function execWriteUri(path: string): string {
  return `exec:cat > ${shellQuote(absolute(path))}`;
}

/** `migrate-incoming` source that reads the stream from the absolute `path`. */
export function execReadUri(path: string): string {
  return `exec:cat ${shellQuote(absolute(path))}`;
}

/** QEMU's shell runs in QEMU's cwd, and a leading `-` would read as an option: demand `/`. */
function absolute(path: string): string {
  if (!isAbsolute(path)) throw new Error(`migration file path must be absolute: ${path}`);
  return path;
}
