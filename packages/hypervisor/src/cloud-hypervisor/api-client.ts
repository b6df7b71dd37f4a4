/**
 * A typed client for one Cloud Hypervisor VMM's REST API, reached over its `--api-socket`.
 * Requests are built by openapi-fetch from the vendored spec's types and sent by undici over
 * the unix socket.
 */
import createClient, { type Client } from 'openapi-fetch';
import { Agent, type Dispatcher, request } from 'undici';
import { CloudHypervisorApiError, CloudHypervisorTimeoutError } from './errors.js';
import type { components, paths } from './generated/cloud-hypervisor.gen.js';

/** The request and response bodies of the CH API, named as the spec names them. */
export type ChSchemas = components['schemas'];
export type ChVmConfig = ChSchemas['VmConfig'];
export type ChVmInfo = ChSchemas['VmInfo'];
export type ChVmState = ChSchemas['VmState'];
export type ChRestoreConfig = ChSchemas['RestoreConfig'];
export type ChPing = ChSchemas['VmmPingResponse'];

/** The spec's `servers` entry; the host part is ignored on a unix socket. */
const baseUrl = 'http://localhost/api/v1';

export interface CloudHypervisorApiOptions {
  /** Deadline for one request, in milliseconds. A snapshot or restore of a large guest is one. */
  timeoutMs?: number;
}

/** Every call resolves on 2xx and throws {@link CloudHypervisorApiError} on anything else. */
export class CloudHypervisorApi {
  readonly socketPath: string;
  readonly #agent: Agent;
  readonly #client: Client<paths>;
  #closing?: Promise<void>;

  constructor(socketPath: string, options: CloudHypervisorApiOptions = {}) {
    this.socketPath = socketPath;
    this.#agent = new Agent({ connect: { socketPath } });
    const timeoutMs = options.timeoutMs ?? 60_000;
    this.#client = createClient<paths>({
      baseUrl,
      fetch: (req) => sendOverSocket(this.#agent, req, timeoutMs),
    });
  }

  async ping(signal?: AbortSignal): Promise<ChPing> {
    const { data, error, response } = await this.#client.GET('/vmm.ping', { signal });
    return expectData('GET /vmm.ping', response, data, error);
  }

  async info(signal?: AbortSignal): Promise<ChVmInfo> {
    const { data, error, response } = await this.#client.GET('/vm.info', { signal });
    return expectData('GET /vm.info', response, data, error);
  }

  async create(config: ChVmConfig, signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.create', { body: config, signal });
    expectOk('PUT /vm.create', response, error);
  }

  async boot(signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.boot', { signal });
    expectOk('PUT /vm.boot', response, error);
  }

  async pause(signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.pause', { signal });
    expectOk('PUT /vm.pause', response, error);
  }

  async resume(signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.resume', { signal });
    expectOk('PUT /vm.resume', response, error);
  }

  /** `destinationUrl` is `file://` + an absolute path to an existing, empty directory. */
  async snapshot(destinationUrl: string, signal?: AbortSignal): Promise<void> {
    const body = { destination_url: destinationUrl };
    const { error, response } = await this.#client.PUT('/vm.snapshot', { body, signal });
    expectOk('PUT /vm.snapshot', response, error);
  }

  async restore(config: ChRestoreConfig, signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.restore', { body: config, signal });
    expectOk('PUT /vm.restore', response, error);
  }

  /** ACPI power button: an ACPI-aware guest powers off, and then the whole VMM exits. */
  async powerButton(signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vm.power-button', { signal });
    expectOk('PUT /vm.power-button', response, error);
  }

  /** Ends the VMM process (and with it any VM). */
  async shutdownVmm(signal?: AbortSignal): Promise<void> {
    const { error, response } = await this.#client.PUT('/vmm.shutdown', { signal });
    expectOk('PUT /vmm.shutdown', response, error);
  }

  /** Closes the socket connections; the VMM is not affected. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#agent.close();
    return this.#closing;
  }
}

/**
 * openapi-fetch's `fetch` hook. The body is read into one Buffer before sending: undici then
 * frames it with `Content-Length` (also `0` for a bodyless PUT), never chunked, because CH's
 * micro_http reads a body only by `Content-Length`. Bodyless GETs carry no length header, as
 * RFC 9110 asks; micro_http reads that as an empty body.
 */
async function sendOverSocket(agent: Agent, req: Request, timeoutMs: number): Promise<Response> {
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : null;
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    headers[name] = value;
  });

  const deadline = AbortSignal.timeout(timeoutMs);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(req.url, {
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body,
      dispatcher: agent,
      signal: AbortSignal.any([req.signal, deadline]),
    });
  } catch (err) {
    if (!deadline.aborted) throw err;
    const operation = `${req.method} ${new URL(req.url).pathname.replace('/api/v1', '')}`;
    throw new CloudHypervisorTimeoutError(operation, timeoutMs, { cause: err });
  }

  const bytes = Buffer.from(await res.body.arrayBuffer());
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
  }
  const hasNoBody = res.statusCode === 204 || res.statusCode === 304;
  return new Response(hasNoBody ? null : bytes, {
    status: res.statusCode,
    headers: responseHeaders,
  });
}

function expectOk(operation: string, response: Response, error: unknown): void {
  if (!response.ok)
    throw new CloudHypervisorApiError(operation, response.status, messagesOf(error));
}

function expectData<T>(
  operation: string,
  response: Response,
  data: T | undefined,
  error: unknown,
): T {
  expectOk(operation, response, error);
  if (data === undefined) {
    throw new CloudHypervisorApiError(operation, response.status, ['response had no JSON body']);
  }
  return data;
}

/** CH's error body is a JSON array of strings; anything else is kept as one message. */
function messagesOf(error: unknown): string[] {
  if (Array.isArray(error)) return error.map(String);
  if (error === undefined || error === '') return [];
  return [typeof error === 'string' ? error : JSON.stringify(error)];
}
