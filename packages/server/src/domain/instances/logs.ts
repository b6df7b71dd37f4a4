/**
 * The guest's serial console (`GET /instances/{id}/logs`): the last N lines, and a follow mode
 * that yields lines as the guest prints them, for the route to stream as server-sent events.
 * Following polls the file on the injected clock; it survives the file being truncated.
 *
 * A serial console ends its lines with CR LF; a line is given without its terminator, so the
 * CR of a CR LF is dropped too (a CR inside a line, a progress bar's, is kept).
 */
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { InvalidRequestError } from '../errors.js';
import type { DomainContext } from './context.js';
import { resolveInstance } from './resolve.js';

/** The most history lines one request may ask for. */
export const MAX_TAIL_LINES = 10_000;
const CHUNK_BYTES = 64 * 1024;

/** The last `lines` complete lines of the instance's serial log (fewer if it has fewer). */
export async function tailLogs(ctx: DomainContext, ref: string, lines = 100): Promise<string[]> {
  const instance = resolveInstance(ctx, ref);
  checkTail(lines);
  const { lines: out } = await readTail(ctx.paths.serialLog(instance.id), lines);
  return out;
}

/** Options of {@link followLogs}. */
export interface FollowOptions {
  /** Lines of history to yield first (default 100). */
  tail?: number;
  /** Ends the iteration (the client went away). */
  signal?: AbortSignal;
}

/** The last `tail` lines, then every new line as it is written, until `signal` aborts. */
export async function* followLogs(
  ctx: DomainContext,
  ref: string,
  opts: FollowOptions = {},
): AsyncGenerator<string> {
  const instance = resolveInstance(ctx, ref);
  const tail = opts.tail ?? 100;
  checkTail(tail);
  const path = ctx.paths.serialLog(instance.id);
  const history = await readTail(path, tail);
  yield* history.lines;
  let offset = history.end;
  let partial = '';
  // Decodes across reads, so a character split between two polls is not garbled.
  let decoder = new StringDecoder('utf8');
  while (!opts.signal?.aborted) {
    try {
      await ctx.clock.sleep(ctx.settings.logPollMs, opts.signal);
    } catch {
      return;
    }
    if (!ctx.repos.instances.get(instance.id)) return;
    const size = await fileSize(path);
    if (size < offset) {
      offset = 0; // truncated or replaced: start over from its beginning
      partial = '';
      decoder = new StringDecoder('utf8');
    }
    if (size === offset) continue;
    const text = partial + decoder.write(await readBytes(path, offset, size));
    offset = size;
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    yield* parts.map(withoutCr);
  }
}

function checkTail(lines: number): void {
  if (!Number.isInteger(lines) || lines < 0 || lines > MAX_TAIL_LINES) {
    throw new InvalidRequestError(`tail ${lines} is out of range; use 0 to ${MAX_TAIL_LINES}`);
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

async function readBytes(path: string, start: number, end: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/**
 * Reads backwards in chunks until `count` complete lines are found. A last line without its
 * newline is still being written and is left for the follower; `end` is the byte offset just
 * after the last complete line.
 */
async function readTail(path: string, count: number): Promise<{ lines: string[]; end: number }> {
  let start = await fileSize(path);
  let buffer = Buffer.alloc(0);
  // count + 1 newlines: the first piece of a chunk that does not start the file is partial.
  while (start > 0 && newlines(buffer) <= count) {
    const from = Math.max(0, start - CHUNK_BYTES);
    buffer = Buffer.concat([await readBytes(path, from, start), buffer]);
    start = from;
  }
  const lastNewline = buffer.lastIndexOf(0x0a);
  const end = start + lastNewline + 1;
  if (lastNewline === -1 || count === 0) return { lines: [], end };
  const lines = buffer.subarray(0, lastNewline).toString('utf8').split('\n');
  return { lines: lines.slice(-count).map(withoutCr), end };
}

/** A line without the CR of its CR LF terminator. */
function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

function newlines(buffer: Buffer): number {
  let n = 0;
  for (let i = buffer.indexOf(0x0a); i !== -1; i = buffer.indexOf(0x0a, i + 1)) n++;
  return n;
}
