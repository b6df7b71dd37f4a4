/**
 * The shapes the generated operation table and handler types are built from. Hand-written so
 * that `operations.gen.ts` stays a plain listing of what `openapi.yaml` declares.
 */

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'patch';

/** One operation of `openapi.yaml`, as the server needs it at run time. */
export interface OperationInfo {
  readonly operationId: string;
  /** The operation's single tag; the server keeps one route file per tag. */
  readonly tag: string;
  readonly method: HttpMethod;
  /** OpenAPI path template (`/instances/{id}`). */
  readonly path: string;
  /** The same path in Hono's syntax (`/instances/:id`). */
  readonly honoPath: string;
  /** Whether a bearer token is required (false for `security: []`). */
  readonly auth: boolean;
  /** Declared 2xx statuses: the only ones a handler may return. */
  readonly successStatuses: readonly number[];
  /** Media types of each declared response; empty for a response without a body (204). */
  readonly responses: Readonly<Record<number, readonly string[]>>;
  readonly requestBody: {
    readonly required: boolean;
    readonly contentTypes: readonly string[];
  } | null;
}

/**
 * The body of a non-JSON response: text, bytes, or a stream of bytes (server-sent events).
 * JSON responses carry their schema type instead.
 */
export type RawBody = string | Uint8Array | ReadableStream<Uint8Array>;

/** What every handler receives besides its validated path, query, headers and body. */
export interface RequestContext {
  /** Aborts when the client disconnects; long waits and streams must stop on it. */
  readonly signal: AbortSignal;
}

export type MaybePromise<T> = T | Promise<T>;
