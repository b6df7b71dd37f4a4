/**
 * The vmkeep client: openapi-fetch over the types generated from `openapi.yaml`. Every call
 * returns a result — `{data, response}` on success, `{error, response}` otherwise — and throws
 * only when the server cannot be reached. Turn an `error` into an exception with
 * {@link toVmkeepError} when that reads better.
 *
 * @example
 * const vmkeep = createClient({ baseUrl: 'http://127.0.0.1:8080', token });
 * const { data, error, response } = await vmkeep.GET('/instances/{id}', {
 *   params: { path: { id: 'web-1' } },
 * });
 * if (error) throw toVmkeepError(error, response);
 */
import createFetchClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/schema.gen.js';

export interface ClientOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Bearer token (`npm run token` prints one); omit for the open endpoints only. */
  token?: string;
  /** A `fetch` to send requests with (tests pass an in-process server's). */
  fetch?: (request: Request) => Response | Promise<Response>;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/** A typed client: `GET`, `PUT`, `POST`, `DELETE`, `PATCH` keyed by the spec's paths. */
export type VmkeepClient = Client<paths, 'application/json'>;

/**
 * Creates a client. Path parameters are percent-encoded on the wire (`a/b` → `a%2Fb`), so an
 * id can never address another route. A 204 answers `{data: undefined, error: undefined}`.
 */
export function createClient(options: ClientOptions): VmkeepClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const customFetch = options.fetch;
  return createFetchClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers,
    ...(customFetch ? { fetch: async (request: Request) => customFetch(request) } : {}),
  });
}
