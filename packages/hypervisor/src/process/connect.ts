/**
 * Connecting to a control socket that a just-spawned VMM has not created yet. QEMU listens
 * 27–64 ms after spawn on the reference machine; retrying every ~20 ms costs nothing and keeps
 * start-up latency at the VMM's own.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ConnectOptions {
  timeoutMs: number;
  retryMs?: number;
  signal?: AbortSignal;
  /** Checked between attempts: when it returns true, give up (the VMM died). */
  gaveUp?: () => boolean;
}

/** Connects to the unix socket at `path`, retrying while it does not exist or refuses. */
export async function connectUnixSocket(path: string, opts: ConnectOptions): Promise<Socket> {
  const deadline = Date.now() + opts.timeoutMs;
  const retryMs = opts.retryMs ?? 20;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      return await attempt(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw error;
      if (opts.gaveUp?.()) throw new Error(`the process exited before listening on ${path}`);
      if (Date.now() >= deadline) {
        throw new Error(`no listener on ${path} after ${opts.timeoutMs} ms (${code})`);
      }
    }
    await sleep(retryMs, undefined, { signal: opts.signal });
  }
}

function attempt(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
