/**
 * Follows a guest's serial log the way a person would tail it, noting when (host time) each
 * heartbeat line of the default guest appeared: `tick N uptime=U boot_id=B`.
 */
import { open } from 'node:fs/promises';

export interface Tick {
  n: number;
  /** Guest uptime in seconds: it does not advance while the guest is paused. */
  uptime: number;
  bootId: string;
  /** Host `Date.now()` when the line was first seen (polled every 10 ms). */
  seenAt: number;
}

const TICK = /^tick (\d+) uptime=([\d.]+) boot_id=(\S+)/;

export class SerialWatcher {
  readonly ticks: Tick[] = [];
  #text = '';
  #offset: number;
  #timer: NodeJS.Timeout;
  #partial = '';
  #polling = false;

  /** Starts reading `path` at byte `fromOffset` (the end of earlier output, for a restore). */
  constructor(
    readonly path: string,
    fromOffset = 0,
  ) {
    this.#offset = fromOffset;
    this.#timer = setInterval(() => void this.#poll(), 10);
  }

  /** Everything read so far. */
  get text(): string {
    return this.#text;
  }

  get lastTick(): Tick | undefined {
    return this.ticks.at(-1);
  }

  /** Resolves with the first tick numbered `n` or higher. */
  async waitForTick(n: number, timeoutMs = 30_000): Promise<Tick> {
    await this.waitFor(() => (this.lastTick?.n ?? -1) >= n, `tick ${n}`, timeoutMs);
    return this.ticks.find((t) => t.n >= n)!;
  }

  /** Resolves once `count` more ticks than now have appeared. */
  async waitForMoreTicks(count: number, timeoutMs = 30_000): Promise<Tick[]> {
    const start = this.ticks.length;
    await this.waitFor(() => this.ticks.length >= start + count, `${count} ticks`, timeoutMs);
    return this.ticks.slice(start);
  }

  async waitFor(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) {
        throw new Error(
          `no ${what} in ${this.path} after ${timeoutMs} ms:\n${this.#text.slice(-500)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    // A slow read must not overlap the next tick's: both would consume the same bytes.
    if (this.#polling) return;
    this.#polling = true;
    let file: Awaited<ReturnType<typeof open>> | undefined;
    try {
      file = await open(this.path, 'r');
      const buffer = Buffer.alloc(65_536);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      const now = Date.now();
      const chunk = buffer.subarray(0, bytesRead).toString('utf8');
      this.#text += chunk;
      const lines = (this.#partial + chunk).split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = TICK.exec(line.trim());
        if (match) {
          this.ticks.push({
            n: Number(match[1]),
            uptime: Number(match[2]),
            bootId: match[3]!,
            seenAt: now,
          });
        }
      }
    } catch {
      // Not created yet: QEMU opens it on start.
    } finally {
      await file?.close();
      this.#polling = false;
    }
  }
}
