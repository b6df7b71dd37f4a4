/**
 * A fake Cloud Hypervisor for driver tests. Each `cloud-hypervisor` process the driver spawns
 * is `fake-ch-bin.mjs`; it registers here and gets its own {@link FakeVmm} behind an HTTP
 * server on a unix socket. Every request is checked the way CH's micro_http and API would see
 * it: framing (`Content-Length`, never chunked), method, path, and the body against the
 * vendored spec with undeclared fields rejected. Anything off is answered as CH would and also
 * recorded in `violations`, which a test asserts is empty.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FakeVmm, type Reply } from './fake-vmm.js';
import { ChSpecValidator } from './spec-validator.js';

/** One request as the fake received it, in arrival order. */
export interface FakeCall {
  seq: number;
  pid: number;
  method: string;
  /** Without the `/api/v1` prefix: `/vm.pause`. */
  path: string;
  body: unknown;
  /** Undefined while the request is in flight (or hangs). */
  status?: number;
}

/** What to do instead of (or before) answering a request. */
export type Fault = { status: number; messages?: string[] } | { delayMs: number } | { hang: true };

interface ArmedFault {
  endpoint: string;
  fault: Fault;
  remaining: number;
}

const binScript = fileURLToPath(new URL('./fake-ch-bin.mjs', import.meta.url));
const validator = new ChSpecValidator();

export class FakeCloudHypervisor {
  /** `vmm.ping` version of VMMs spawned from now on; `resume` on restore needs ≥ 52. */
  version = '53.0.0';
  /** Whether guests power off on `vm.power-button`. */
  guestHandlesPowerButton = true;
  /** Makes the next spawned VMM exit at once with this code and stderr, like a bad install. */
  startFailure?: { code: number; stderr: string };

  readonly calls: FakeCall[] = [];
  readonly violations: string[] = [];
  readonly vmms = new Map<number, FakeVmm>();
  /** Executable to put in `VMKEEP_CLOUD_HYPERVISOR_BIN`. */
  readonly binPath: string;

  readonly #dir: string;
  readonly #control: NetServer;
  readonly #servers = new Set<Server>();
  readonly #connections = new Map<number, Socket>();
  readonly #faults: ArmedFault[] = [];
  #hooks: ((call: FakeCall) => void | Promise<void>)[] = [];

  private constructor(dir: string, control: NetServer, binPath: string) {
    this.#dir = dir;
    this.#control = control;
    this.binPath = binPath;
  }

  /** Listens in `dir` (a fresh temp dir, short enough for socket paths). */
  static async start(dir: string): Promise<FakeCloudHypervisor> {
    await mkdir(dir, { recursive: true });
    // A wrapper, so the test does not depend on the script's file mode in git, and so the
    // control socket reaches the script whatever environment the driver spawns it with.
    // `exec` keeps the pid the driver sees equal to the node process that plays the VMM.
    const binPath = join(dir, 'cloud-hypervisor');
    const control = join(dir, 'control.sock');
    await writeFile(
      binPath,
      `#!/bin/sh\nFAKE_CH_CONTROL='${control}' exec '${process.execPath}' '${binScript}' "$@"\n`,
    );
    await chmod(binPath, 0o755);

    const server = createNetServer();
    const fake = new FakeCloudHypervisor(dir, server, binPath);
    server.on('connection', (socket) => fake.#register(socket));
    await new Promise<void>((resolve) => server.listen(control, resolve));
    return fake;
  }

  /** The environment to give the driver, so that it finds the fake binary. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, VMKEEP_CLOUD_HYPERVISOR_BIN: this.binPath };
  }

  /** Arms a fault for `endpoint` (`PUT /vm.snapshot`) for the next `times` requests. */
  fault(endpoint: string, fault: Fault, times = Number.POSITIVE_INFINITY): void {
    this.#faults.push({ endpoint, fault, remaining: times });
  }

  /** Runs before each request is answered, e.g. to look at the disk at that instant. */
  onRequest(hook: (call: FakeCall) => void | Promise<void>): void {
    this.#hooks.push(hook);
  }

  /** `PUT /vm.pause`-style names of the calls, optionally of one VMM, in order. */
  endpoints(pid?: number): string[] {
    return this.calls
      .filter((call) => pid === undefined || call.pid === pid)
      .map((call) => `${call.method} ${call.path}`);
  }

  /** Ends every fake VMM process still running and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#connections.values())
      socket.end(`${JSON.stringify({ type: 'exit', code: 0 })}\n`);
    for (const server of this.#servers) server.closeAllConnections();
    await Promise.all([...this.#servers].map((server) => new Promise((r) => server.close(r))));
    await new Promise((resolve) => this.#control.close(resolve));
    for (const vmm of this.vmms.values()) await vmm.close();
    await rm(this.#dir, { recursive: true, force: true });
  }

  #register(socket: Socket): void {
    socket.setEncoding('utf8');
    let buffered = '';
    let pid: number | undefined;
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0 || pid !== undefined) return;
      const hello = JSON.parse(buffered.slice(0, nl)) as { pid: number; apiSocket: string };
      pid = hello.pid;
      void this.#startVmm(hello.pid, socket);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (pid === undefined) return;
      // The process is gone (exit, signal, or told to): its VMM goes with it.
      this.#connections.delete(pid);
      void this.vmms.get(pid)?.close();
    });
  }

  async #startVmm(pid: number, control: Socket): Promise<void> {
    this.#connections.set(pid, control);
    const send = (message: object) => control.write(`${JSON.stringify(message)}\n`);
    if (this.startFailure) {
      const { code, stderr } = this.startFailure;
      this.startFailure = undefined;
      send({ type: 'exit', code, stderr });
      return;
    }

    const vmm = new FakeVmm({
      pid,
      version: this.version,
      guestHandlesPowerButton: this.guestHandlesPowerButton,
      configProblems: (config) =>
        validator.checkRequest('PUT', '/api/v1/vm.create', JSON.stringify(config)).ok
          ? []
          : ['config.json is not a valid VmConfig'],
      exitProcess: (code) => {
        exitRequested = code;
      },
    });
    let exitRequested: number | undefined;
    this.vmms.set(pid, vmm);

    const server = createServer((req, res) => {
      void this.#serve(vmm, req, res).then(() => {
        const code = exitRequested;
        if (code === undefined) return;
        exitRequested = undefined;
        // After the response is sent, as CH answers before its process ends.
        const exit = () => send({ type: 'exit', code });
        if (res.writableFinished) exit();
        else res.once('finish', exit);
      });
    });
    this.#servers.add(server);
    const backend = join(this.#dir, `backend-${pid}.sock`);
    await new Promise<void>((resolve) => server.listen(backend, resolve));
    send({ type: 'backend', socket: backend });
  }

  async #serve(vmm: FakeVmm, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const method = req.method ?? '';
    const url = req.url ?? '';
    const endpoint = `${method} ${url.replace(/^\/api\/v1/, '')}`;

    // 1. Framing, as micro_http needs it.
    const framing = framingProblems(req, raw.length);
    if (framing.length > 0) return this.#reject(res, 400, endpoint, framing);

    // 2. Method, path and body against the spec.
    const check = validator.checkRequest(method, url, raw.toString('utf8'));
    if (!check.ok) return this.#reject(res, check.status, endpoint, check.problems);

    const call: FakeCall = {
      seq: this.calls.length + 1,
      pid: vmm.pid,
      method,
      path: url.replace(/^\/api\/v1/, ''),
      body: check.body,
    };
    this.calls.push(call);
    for (const hook of this.#hooks) await hook(call);

    // 3. Injected faults, then the state machine.
    const fault = this.#takeFault(endpoint);
    if (fault && 'hang' in fault) return;
    if (fault && 'delayMs' in fault) await sleep(fault.delayMs);
    const reply: Reply =
      fault && 'status' in fault
        ? { status: fault.status, body: fault.messages ?? ['Error from API', 'injected fault'] }
        : await vmm.handle(method, call.path, check.body);
    if (reply.status === 200) {
      const problems = validator.checkOkResponse(method, call.path, reply.body);
      for (const p of problems) this.violations.push(`fake's own ${endpoint} response: ${p}`);
    }
    call.status = reply.status;
    send(res, reply);
  }

  #reject(res: ServerResponse, status: number, endpoint: string, problems: string[]): void {
    for (const p of problems) this.violations.push(`${endpoint}: ${p}`);
    send(res, { status, body: problems });
  }

  #takeFault(endpoint: string): Fault | undefined {
    const armed = this.#faults.find((f) => f.endpoint === endpoint && f.remaining > 0);
    if (!armed) return undefined;
    armed.remaining -= 1;
    return armed.fault;
  }
}

/** CH reads a body only by `Content-Length`; it cannot read chunked bodies. */
function framingProblems(req: IncomingMessage, received: number): string[] {
  const problems: string[] = [];
  if (req.headers['transfer-encoding'] !== undefined) {
    problems.push(
      `Transfer-Encoding ${req.headers['transfer-encoding']} sent; CH reads only Content-Length`,
    );
  }
  const declared = req.headers['content-length'];
  if (req.method === 'PUT' && declared === undefined) problems.push('PUT without Content-Length');
  if (declared !== undefined && Number(declared) !== received) {
    problems.push(`Content-Length ${declared} but ${received} bytes received`);
  }
  if (req.method === 'GET' && received > 0) problems.push(`GET with a ${received}-byte body`);
  return problems;
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    // A 204 carries no Content-Length (RFC 9110 §8.6); any other empty answer says 0.
    res.writeHead(reply.status, reply.status === 204 ? {} : { 'content-length': '0' }).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res
    .writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
    })
    .end(text);
}
