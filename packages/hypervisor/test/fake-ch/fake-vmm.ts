/**
 * The state machine of one fake Cloud Hypervisor VMM: none → Created → Running ⇄ Paused →
 * Shutdown, with CH's observable behaviour, quirks included:
 *
 * - wrong-state calls answer 500 with the error chain as a JSON string array (the spec says
 *   405; the server sends 500), calls that need a VM before `vm.create` answer 404;
 * - `vm.snapshot` needs a paused VM and an existing directory, and creates its three files
 *   create-new, so a reused directory fails;
 * - `vm.restore` needs an empty VMM (404 "already created" otherwise), opens the disks named in
 *   `config.json`, and leaves the VM Paused unless `resume` is set and the VMM is v52 or newer;
 * - a `File` serial is opened with truncation, as `File::create` does.
 */
import { constants } from 'node:fs';
import { access, type FileHandle, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ChRestoreConfig,
  ChVmConfig,
  ChVmState,
} from '../../src/cloud-hypervisor/api-client.js';

export interface FakeVmmOptions {
  pid: number;
  /** As `vmm.ping` reports it, e.g. `51.0.0`. */
  version: string;
  /** Whether the guest powers off on the ACPI power button (a guest with acpid does). */
  guestHandlesPowerButton: boolean;
  /** Checks a `config.json` read back on restore against the spec's `VmConfig`. */
  configProblems: (config: unknown) => string[];
  /** Makes the fake's process exit, after the current response is sent. */
  exitProcess: (code: number) => void;
}

export interface Reply {
  status: number;
  body?: unknown;
}

const apiError = 'Error from API';

export class FakeVmm {
  state: ChVmState | 'none' = 'none';
  config?: ChVmConfig;
  readonly #options: FakeVmmOptions;
  #serial?: FileHandle;

  constructor(options: FakeVmmOptions) {
    this.#options = options;
  }

  get pid(): number {
    return this.#options.pid;
  }

  /** `body` has already passed the spec check. */
  async handle(method: string, path: string, body: unknown): Promise<Reply> {
    switch (`${method} ${path}`) {
      case 'GET /vmm.ping':
        return ok({
          version: this.#options.version,
          build_version: `v${this.#options.version}`,
          pid: this.pid,
        });
      case 'PUT /vmm.shutdown':
        this.#options.exitProcess(0);
        return noContent;
      case 'GET /vm.info':
        if (!this.config || this.state === 'none') return notCreated('info');
        return ok({ config: this.config, state: this.state });
      case 'PUT /vm.create':
        if (this.state !== 'none') return failed('create', 'VM is already created');
        this.config = body as ChVmConfig;
        this.state = 'Created';
        return noContent;
      case 'PUT /vm.boot':
        return this.#boot();
      case 'PUT /vm.pause':
        return this.#transition('pause', 'Running', 'Paused');
      case 'PUT /vm.resume':
        return this.#transition('resume', 'Paused', 'Running');
      case 'PUT /vm.snapshot':
        return this.#snapshot((body as { destination_url?: string }).destination_url ?? '');
      case 'PUT /vm.restore':
        return this.#restore(body as ChRestoreConfig);
      case 'PUT /vm.power-button':
        return this.#powerButton();
      default:
        return failed(path, `the fake does not model ${method} ${path}`);
    }
  }

  /** The process is gone: release the serial file, as the kernel would. */
  async close(): Promise<void> {
    await this.#serial?.close();
    this.#serial = undefined;
  }

  async #boot(): Promise<Reply> {
    if (this.state === 'none' || !this.config) return notCreated('boot');
    if (this.state !== 'Created') return failed('boot', `VM is already booted (${this.state})`);
    const problem =
      (await this.#loadPayload(this.config)) ??
      (await this.#openDisks(this.config)) ??
      (await this.#openSerial('booted'));
    if (problem) return failed('boot', problem);
    this.state = 'Running';
    return noContent;
  }

  #transition(verb: string, from: ChVmState, to: ChVmState): Reply {
    if (this.state === 'none') return notCreated(verb);
    if (this.state !== from)
      return failed(verb, `Invalid VM state transition: ${this.state} to ${to}`);
    this.state = to;
    return noContent;
  }

  async #snapshot(destinationUrl: string): Promise<Reply> {
    if (this.state === 'none' || !this.config) return notCreated('snapshot');
    if (this.state === 'Running')
      return failed('snapshot', 'Trying to snapshot while VM is running');
    if (this.state !== 'Paused') return failed('snapshot', `Invalid VM state: ${this.state}`);
    const dir = dirOfUrl(destinationUrl);
    if (!dir || !(await isDirectory(dir)))
      return failed('snapshot', `Invalid destination: ${destinationUrl}`);
    try {
      // 'wx': CH opens every snapshot file create-new.
      await writeFile(join(dir, 'config.json'), JSON.stringify(this.config), { flag: 'wx' });
      const state = { fake: true, version: this.#options.version, state: this.state };
      await writeFile(join(dir, 'state.json'), JSON.stringify(state), { flag: 'wx' });
      const memory = await open(join(dir, 'memory-ranges'), 'wx');
      await memory.truncate(this.config.memory?.size ?? 0);
      await memory.close();
    } catch (err) {
      return failed('snapshot', `Failed to create snapshot file: ${(err as Error).message}`);
    }
    return noContent;
  }

  async #restore(config: ChRestoreConfig): Promise<Reply> {
    if (this.state !== 'none')
      return {
        status: 404,
        body: [apiError, 'The VM could not be restored', 'VM is already created'],
      };
    const dir = dirOfUrl(config.source_url);
    if (!dir) return failed('restore', `Invalid source URL: ${config.source_url}`);

    let captured: ChVmConfig;
    try {
      captured = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as ChVmConfig;
      await access(join(dir, 'state.json'), constants.R_OK);
      const memoryBytes = (await stat(join(dir, 'memory-ranges'))).size;
      if (memoryBytes !== (captured.memory?.size ?? 0)) {
        return failed(
          'restore',
          `memory-ranges holds ${memoryBytes} bytes, config says ${captured.memory?.size}`,
        );
      }
    } catch (err) {
      return failed('restore', `Cannot read snapshot: ${(err as Error).message}`);
    }
    const problems = this.#options.configProblems(captured);
    if (problems.length > 0)
      return { status: 400, body: [apiError, 'Invalid config.json', ...problems] };
    const problem =
      (await this.#openDisks(captured)) ?? (await this.#openSerial('restored', captured));
    if (problem) return failed('restore', problem);

    this.config = captured;
    // `resume` first shipped in v52; older VMMs ignore the unknown field and stay paused.
    this.state =
      config.resume === true && majorOf(this.#options.version) >= 52 ? 'Running' : 'Paused';
    return noContent;
  }

  #powerButton(): Reply {
    if (this.state === 'none') return notCreated('power-button');
    if (this.state === 'Running' && this.#options.guestHandlesPowerButton) {
      // The guest powers off, and a guest power-off ends the whole CH process.
      this.state = 'Shutdown';
      this.#options.exitProcess(0);
    }
    return noContent;
  }

  async #loadPayload(config: ChVmConfig): Promise<string | undefined> {
    for (const file of [config.payload.kernel, config.payload.initramfs]) {
      if (file === undefined) continue;
      try {
        await access(file, constants.R_OK);
      } catch (err) {
        return `Error loading payload ${file}: ${(err as Error).message}`;
      }
    }
    return undefined;
  }

  async #openDisks(config: ChVmConfig): Promise<string | undefined> {
    for (const disk of config.disks ?? []) {
      try {
        await access(
          disk.path ?? '',
          disk.readonly ? constants.R_OK : constants.R_OK | constants.W_OK,
        );
      } catch (err) {
        return `Error opening disk ${disk.id} at ${disk.path}: ${(err as Error).message}`;
      }
    }
    return undefined;
  }

  /**
   * Opens the serial `File` as CH does (create + truncate) and writes one line. Non-blocking,
   * so a FIFO without a reader fails here instead of blocking a libuv thread forever; a few
   * retries cover a relay that is still starting.
   */
  async #openSerial(event: string, config = this.config): Promise<string | undefined> {
    const serial = config?.serial;
    if (serial?.mode !== 'File' || !serial.file) return undefined;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK;
    for (let attempt = 0; ; attempt++) {
      try {
        this.#serial = await open(serial.file, flags, 0o644);
        await this.#serial.write(`fake-ch ${this.#options.version}: ${event}\n`);
        return undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || attempt >= 25) {
          return `Error opening serial file ${serial.file}: ${(err as Error).message}`;
        }
        await sleep(20);
      }
    }
  }
}

const noContent: Reply = { status: 204 };

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function notCreated(verb: string): Reply {
  return { status: 404, body: [apiError, `VM ${verb} failed`, 'VM is not created'] };
}

function failed(verb: string, cause: string): Reply {
  return { status: 500, body: [apiError, `VM ${verb} failed`, cause] };
}

function dirOfUrl(url: string): string | undefined {
  if (!url.startsWith('file:///')) return undefined;
  return url.slice('file://'.length);
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function majorOf(version: string): number {
  return Number.parseInt(version.replace(/^v/, ''), 10);
}
