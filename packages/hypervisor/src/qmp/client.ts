/**
 * One long-lived QMP connection. QEMU serves a single client per monitor socket (a second one
 * gets no greeting until the first leaves, and events are not queued for absent clients), so a
 * driver keeps exactly one of these per guest and sends all traffic through it.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Logger, silentLogger } from '../logger.js';
import { QmpClosedError, QmpError, QmpProtocolError, QmpTimeoutError } from './errors.js';
import type { QmpEvent, QmpGreeting, QmpSentCommand } from './types.js';

export interface QmpCallOptions {
  /** Default: the client's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** Aborting rejects the call with the signal's reason; QEMU may still carry the command out. */
  signal?: AbortSignal;
}

export interface QmpWaitOptions extends QmpCallOptions {
  match?: (event: QmpEvent) => boolean;
  /**
   * Also accept events received at or after this {@link QmpClient.mark}. Events can arrive
   * before the reply to the command that caused them, so mark, send, then wait with `since`.
   */
  since?: number;
}

export interface QmpConnectOptions {
  /** Deadline for the greeting and capabilities negotiation (default 5000). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Deadline of calls and waits that do not set their own (default 10000). */
  defaultTimeoutMs?: number;
  logger?: Logger;
}

interface Pending {
  what: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

const RECENT_EVENTS = 256;
const SENT_HISTORY = 512;

export class QmpClient {
  #socket: Socket;
  #logger: Logger;
  #defaultTimeoutMs: number;
  #buffer = '';
  #nextId = 1;
  #greeting: Pending | undefined;
  #pending = new Map<number, Pending>();
  #waiters = new Set<{ name: string; match?: (e: QmpEvent) => boolean; settle: Pending }>();
  #listeners = new Set<(event: QmpEvent) => void>();
  #recent: QmpEvent[] = [];
  #sent: QmpSentCommand[] = [];
  #closedError: Error | undefined;
  #closed: Promise<void>;

  /** The greeting QEMU sent: its version and the capabilities it offers. */
  greeting!: QmpGreeting;

  private constructor(socket: Socket, opts: QmpConnectOptions) {
    this.#socket = socket;
    this.#logger = opts.logger ?? silentLogger;
    this.#defaultTimeoutMs = opts.defaultTimeoutMs ?? 10_000;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(error));
    this.#closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#fail(new Error('socket closed'));
        resolve();
      }),
    );
  }

  /**
   * Takes over a connected socket: reads QEMU's greeting and negotiates capabilities, after
   * which commands and events flow. Destroys the socket if that fails.
   */
  static async connect(socket: Socket, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const client = new QmpClient(socket, opts);
    const timeoutMs = opts.timeoutMs ?? 5000;
    try {
      const greeting = await client.#settle<QmpGreeting>('the greeting', timeoutMs, opts.signal, {
        register: (p) => {
          client.#greeting = p;
        },
        unregister: () => {
          client.#greeting = undefined;
        },
      });
      client.greeting = greeting;
      await client.execute('qmp_capabilities', undefined, { timeoutMs, signal: opts.signal });
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** A point in time to pass as `since` to {@link waitForEvent}. */
  mark(): number {
    return performance.now();
  }

  /** True once the connection is gone; every later call fails at once. */
  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Resolves when the connection closes, for whatever reason. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** The commands sent on this connection, oldest first (the last 512). */
  get sentCommands(): readonly QmpSentCommand[] {
    return this.#sent;
  }

  /** Sends a command and resolves with its `return` value; rejects with {@link QmpError}. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    opts: QmpCallOptions = {},
  ): Promise<T> {
    const id = this.#nextId++;
    const message: QmpSentCommand & { id: number } = { execute: command, id };
    if (args !== undefined) message.arguments = args;
    return this.#settle<T>(command, opts.timeoutMs, opts.signal, {
      register: (p) => {
        this.#pending.set(id, p);
        this.#sent.push(
          args === undefined ? { execute: command } : { execute: command, arguments: args },
        );
        if (this.#sent.length > SENT_HISTORY) this.#sent.shift();
        this.#logger.debug({ qmp: command, id }, 'qmp send');
        this.#socket.write(`${JSON.stringify(message)}\n`);
      },
      unregister: () => this.#pending.delete(id),
    });
  }

  /**
   * Resolves with the first event named `name` that satisfies `match`, looking back over events
   * received since `opts.since` before waiting for new ones.
   */
  waitForEvent(name: string, opts: QmpWaitOptions = {}): Promise<QmpEvent> {
    const { match, since } = opts;
    if (since !== undefined) {
      const seen = this.#recent.find(
        (e) => e.receivedAt >= since && e.event === name && (!match || match(e)),
      );
      if (seen) return Promise.resolve(seen);
    }
    let waiter: { name: string; match?: (e: QmpEvent) => boolean; settle: Pending };
    return this.#settle<QmpEvent>(`event ${name}`, opts.timeoutMs, opts.signal, {
      register: (p) => {
        waiter = { name, match, settle: p };
        this.#waiters.add(waiter);
      },
      unregister: () => this.#waiters.delete(waiter),
    });
  }

  /** Events received since `since` (a {@link mark}), oldest first. */
  eventsSince(since: number): QmpEvent[] {
    return this.#recent.filter((e) => e.receivedAt >= since);
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the connection; pending calls fail with {@link QmpClosedError}. */
  close(): Promise<void> {
    this.#socket.destroy();
    return this.#closed;
  }

  /**
   * Runs `register` with a settle handle, and rejects on the deadline, on abort or when the
   * connection closes; `unregister` always runs once the promise settles.
   */
  #settle<T>(
    what: string,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    hooks: { register(p: Pending): void; unregister(): void },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closedError) return reject(new QmpClosedError(what, { cause: this.#closedError }));
      if (signal?.aborted) return reject(signal.reason);
      const limitMs = timeoutMs ?? this.#defaultTimeoutMs;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        hooks.unregister();
      };
      const timer = setTimeout(() => {
        done();
        reject(new QmpTimeoutError(what, limitMs));
      }, limitMs);
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      hooks.register({
        what,
        resolve: (value) => {
          done();
          resolve(value as T);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line) this.#onLine(line);
      newline = this.#buffer.indexOf('\n');
    }
  }

  #onLine(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line);
    } catch {
      this.#fail(
        new QmpProtocolError(`QMP peer sent a line that is not JSON: ${line.slice(0, 200)}`),
      );
      this.#socket.destroy();
      return;
    }
    if (this.#greeting) {
      const greeting = this.#greeting;
      if ('QMP' in message) {
        greeting.resolve(message);
        return;
      }
      greeting.reject(new QmpProtocolError('the peer did not start with a QMP greeting'));
      this.#socket.destroy();
      return;
    }
    if (typeof message.event === 'string') {
      this.#onEvent(message);
      return;
    }
    const pending = typeof message.id === 'number' ? this.#pending.get(message.id) : undefined;
    if (!pending) {
      this.#logger.debug({ line: line.slice(0, 200) }, 'qmp reply matches no pending call');
      return;
    }
    const error = message.error as { class?: string; desc?: string } | undefined;
    if (error) {
      pending.reject(new QmpError(pending.what, error.class ?? 'GenericError', error.desc ?? ''));
    } else {
      pending.resolve(message.return);
    }
  }

  #onEvent(message: Record<string, unknown>): void {
    const event = { ...message, receivedAt: performance.now() } as unknown as QmpEvent;
    this.#logger.debug({ qmpEvent: event.event, data: event.data }, 'qmp event');
    this.#recent.push(event);
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
    for (const waiter of [...this.#waiters]) {
      if (waiter.name === event.event && (!waiter.match || waiter.match(event))) {
        waiter.settle.resolve(event);
      }
    }
    for (const listener of this.#listeners) listener(event);
  }

  #fail(cause: Error): void {
    if (this.#closedError) return;
    this.#closedError = cause;
    const all = [
      ...(this.#greeting ? [this.#greeting] : []),
      ...this.#pending.values(),
      ...[...this.#waiters].map((w) => w.settle),
    ];
    for (const p of all) p.reject(new QmpClosedError(p.what, { cause }));
  }
}
