/**
 * A guest's serial console read over HTTP: `GET /instances/{id}/logs?follow=true` (server-sent
 * events, one console line per event), each line stamped with the host time it arrived, so a
 * test can see how long the guest went quiet. The default guest prints a heartbeat line
 * `tick N uptime=U boot_id=B` every second.
 */

/** A console line and when (host epoch ms) it reached the client. */
export interface ArrivedLine {
  line: string;
  at: number;
}

/** One heartbeat line of the default guest. */
export interface Heartbeat {
  n: number;
  bootId: string;
  at: number;
}

const HEARTBEAT = /^tick (\d+) uptime=\S+ boot_id=(\S+)/;

export class ConsoleFollower {
  readonly lines: ArrivedLine[] = [];
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;

  /** Starts following from the first line the guest printed (up to 10000 back). */
  constructor(baseUrl: string, token: string, instanceId: string) {
    const url = `${baseUrl}/instances/${encodeURIComponent(instanceId)}/logs?follow=true&tail=10000`;
    this.done = this.read(url, token).catch((error: unknown) => {
      if (!this.abort.signal.aborted) throw error;
    });
  }

  /** The heartbeats seen so far, in order. */
  heartbeats(): Heartbeat[] {
    return this.lines.flatMap(({ line, at }) => {
      const match = HEARTBEAT.exec(line);
      return match ? [{ n: Number(match[1]), bootId: match[2]!, at }] : [];
    });
  }

  /** Waits (real time) until `count` heartbeats have arrived. */
  async waitForHeartbeats(count: number, timeoutMs: number): Promise<Heartbeat[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.heartbeats().length < count) {
      if (Date.now() > deadline) {
        throw new Error(`${this.heartbeats().length} of ${count} heartbeats in ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return this.heartbeats();
  }

  /** Closes the stream. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async read(url: string, token: string): Promise<void> {
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${token}` },
      signal: this.abort.signal,
    });
    if (response.status !== 200 || !response.body) {
      throw new Error(`console follow answered ${response.status}: ${await response.text()}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      const events = buffer.split('\n\n');
      buffer = events.pop() ?? '';
      const at = Date.now();
      for (const event of events) {
        for (const field of event.split('\n')) {
          if (field.startsWith('data: ')) this.lines.push({ line: JSON.parse(field.slice(6)), at });
        }
      }
    }
  }
}
