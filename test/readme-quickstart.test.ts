/**
 * The README's quickstart, run the way a newcomer runs it: `npm start` on a fresh data dir,
 * then every `sh` and `ts` block of the "Quickstart" section, in order, as written. Only what a
 * test cannot do otherwise is changed, and each change must find its text or the test fails:
 *
 * - the server listens on a free port, so `http://127.0.0.1:8080` becomes that address;
 * - the schedule's `"interval": "1m"` becomes `"2s"` (the server runs with
 *   `VMKEEP_MIN_SCHEDULE_INTERVAL=1s`), so "wait a few minutes" takes seconds;
 * - that wait is the test watching the snapshots until the fourth has pruned the first.
 *
 * The shell blocks share their functions and variables as one terminal would: each block's
 * definitions are saved with `declare` and sourced by the next. What each block prints is
 * checked against what the README says it shows. Real QEMU (TCG) guests; nothing is mocked.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const README_URL = 'http://127.0.0.1:8080';
const README_INTERVAL = '"interval": "1m"';
const TEST_INTERVAL = '"interval": "2s"';
const TICK = /^tick (\d+) uptime=\S+ boot_id=(\S+)$/;

interface Block {
  lang: 'sh' | 'ts';
  code: string;
}

/** The fenced `sh` and `ts` blocks of the README's "## Quickstart" section, in order. */
function quickstartBlocks(readme: string): Block[] {
  const start = readme.indexOf('\n## Quickstart\n');
  if (start < 0) throw new Error('README has no "## Quickstart" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(sh|ts)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] as Block['lang'],
    code: m[2]!,
  }));
}

/** `text` with `from` replaced by `to`; fails when `from` is not there (the README moved on). */
function substitute(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the quickstart no longer contains ${from}`);
  return text.replaceAll(from, to);
}

let root: string;
let dataDir: string;
let statePath: string;
let server: ChildProcess | undefined;
let serverOutput = '';
let baseUrl: string;
let token: string;
let blocks: Block[];

/** `npm start`, in its own process group so Ctrl-C can be sent to it as a terminal would. */
async function startServer(): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VMKEEP_DATA_DIR: dataDir,
    VMKEEP_PORT: '0',
    VMKEEP_MIN_SCHEDULE_INTERVAL: '1s',
    VMKEEP_LOG_LEVEL: 'info',
  };
  // The README's token comes from the data dir's generated secret, not from the environment.
  delete env.JWT_SECRET;
  delete env.VMKEEP_MOCK_HYPERVISOR;
  const child = spawn('npm', ['start'], { cwd: REPO, env, detached: true });
  server = child;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no server:\n${serverOutput}`)), 300_000);
    const onData = (chunk: Buffer) => {
      serverOutput += chunk.toString();
      const m = /is listening on (http:\/\/\S+)/.exec(serverOutput);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${serverOutput}`));
    });
  });
}

/** Ctrl-C in the server's terminal: SIGINT to its process group; resolves once npm is gone. */
async function interruptServer(): Promise<void> {
  const child = server;
  server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGINT');
  await exited;
}

/** The variables the quickstart's shell blocks assign, to carry from one block to the next. */
function assignedNames(): string[] {
  const names = new Set<string>();
  for (const block of blocks.filter((b) => b.lang === 'sh')) {
    for (const m of block.code.matchAll(/^(?:export )?([A-Z_][A-Z0-9_]*)=/gm)) names.add(m[1]!);
  }
  return [...names];
}

/** Runs one shell block as the next command in the newcomer's second terminal. */
async function runShell(code: string): Promise<string> {
  const script = [
    'set -eo pipefail',
    `[ -f ${statePath} ] && source ${statePath}`,
    code,
    `{ declare -f; declare -p ${assignedNames().join(' ')} 2>/dev/null || true; } > ${statePath}`,
  ].join('\n');
  const { stdout } = await run('bash', ['-c', script], {
    cwd: REPO,
    env: { ...process.env, VMKEEP_DATA_DIR: dataDir, JWT_SECRET: '' },
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/**
 * Compiles the TypeScript block with the project's strict settings, then runs it with `npx tsx`
 * from a file at the top of the repository (where the README says to run it: the root package
 * is ESM, so top-level await works).
 */
async function runTypeScript(code: string): Promise<string> {
  const file = join(REPO, `.readme-quickstart-${process.pid}.ts`);
  const tsconfig = join(REPO, `.readme-quickstart-${process.pid}.json`);
  await writeFile(file, code);
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: './tsconfig.base.json',
      compilerOptions: { noEmit: true },
      files: [file],
    }),
  );
  try {
    await run('npx', ['tsc', '-p', tsconfig], { cwd: REPO }).catch((error: { stdout: string }) => {
      throw new Error(`the README's TypeScript does not compile:\n${error.stdout}`);
    });
    const { stdout } = await run('npx', ['tsx', file], {
      cwd: REPO,
      env: { ...process.env, VMKEEP_TOKEN: token },
      timeout: 180_000,
    });
    return stdout;
  } finally {
    await rm(file, { force: true });
    await rm(tsconfig, { force: true });
  }
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text}`);
  return (response.headers.get('content-type') ?? '').includes('json')
    ? (JSON.parse(text) as T)
    : (text as T);
}

interface SnapshotView {
  id: string;
  name: string;
  kind: string;
  status: string;
  schedule: { instance_id: string } | null;
}

/** Each line that holds a JSON object or array, parsed; the rest (the console) left out. */
function jsonLines(output: string): unknown[] {
  return output
    .split('\n')
    .filter((line) => /^(\{"|\[\{|\[\]$)/.test(line))
    .map((line) => JSON.parse(line));
}

function ticks(output: string) {
  return output
    .split('\n')
    .map((line) => TICK.exec(line.trim()))
    .filter((m) => m !== null)
    .map((m) => ({ n: Number(m[1]), bootId: m[2]! }));
}

/** VMMs still running from this data dir (their pid files, checked against /proc). */
async function vmmPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const id of await readdir(join(dataDir, 'instances')).catch(() => [] as string[])) {
    const text = await readFile(join(dataDir, 'instances', id, 'run', 'vmm.pid'), 'utf8').catch(
      () => '',
    );
    const pid = Number(text.trim());
    const cmdline = pid ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
    if (cmdline.includes(dataDir)) pids.push(pid);
  }
  return pids;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-readme-'));
  dataDir = join(root, 'data');
  statePath = join(root, 'shell-state.sh');
  blocks = quickstartBlocks(await readFile(join(REPO, 'README.md'), 'utf8'));
  baseUrl = await startServer();
  token = (
    await run('npm', ['run', '-s', 'token'], {
      cwd: REPO,
      env: { ...process.env, VMKEEP_DATA_DIR: dataDir, JWT_SECRET: '' },
    })
  ).stdout.trim();
}, 320_000);

afterAll(async () => {
  await interruptServer().catch(() => undefined);
  // Guests outlive the server by default (VMKEEP_ON_EXIT=keep); after a failure, end them here.
  for (const pid of await vmmPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe('the README quickstart, followed word for word', () => {
  let demoId: string;
  let bootId: string;

  it('has three shell blocks around one TypeScript block, and a clean-up block', () => {
    expect(blocks.map((b) => b.lang)).toEqual(['sh', 'sh', 'ts', 'sh']);
    expect(blocks[0]!.code).toContain(README_URL);
    expect(blocks[2]!.code).toContain(README_URL);
  });

  it('boots the demo guest, shows its heartbeat and sets its schedule', async () => {
    const code = substitute(
      substitute(blocks[0]!.code, README_URL, baseUrl),
      README_INTERVAL,
      TEST_INTERVAL,
    );
    const output = await runShell(code);

    const [created, schedule] = jsonLines(output) as [
      { id: string; name: string; state: string },
      { interval: string; retention: { max_count: number }; next_run_at: string },
    ];
    expect(serverOutput).toContain(`export VMKEEP_URL=${baseUrl} VMKEEP_TOKEN=`);
    expect(created).toMatchObject({ name: 'demo', state: 'Running' });
    demoId = created.id;
    const heartbeat = ticks(output);
    expect(heartbeat.length, output).toBeGreaterThan(0);
    bootId = heartbeat[0]!.bootId;
    expect(schedule).toMatchObject({ interval: '2s', retention: { max_count: 3 } });
  }, 180_000);

  it('takes a snapshot each interval and, from the fourth on, prunes the oldest', async () => {
    const seen = new Set<string>();
    const deadline = Date.now() + 120_000;
    let ready: SnapshotView[] = [];
    for (;;) {
      const all = await api<SnapshotView[]>(`/snapshots?source_instance_id=${demoId}`);
      for (const s of all) seen.add(s.id);
      ready = all.filter((s) => s.status === 'ready');
      if (seen.size >= 4 && ready.length === 3) break;
      if (Date.now() > deadline) throw new Error(`${seen.size} seen, ${ready.length} ready`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(ready.every((s) => s.kind === 'Standby' && s.schedule?.instance_id === demoId)).toBe(
      true,
    );
    expect(ready.every((s) => /^scheduled-\d{8}-\d{6}$/.test(s.name))).toBe(true);
  }, 150_000);

  it('lists them, reads the schedule, and rolls the guest back without a reboot', async () => {
    const output = await runShell(blocks[1]!.code);

    const [list, schedule, stopped, restored] = jsonLines(output) as [
      SnapshotView[],
      { last_error: string | null; next_run_at: string },
      { state: string },
      { state: string },
    ];
    expect(list.filter((s) => s.status === 'ready').length).toBeGreaterThanOrEqual(3);
    expect(schedule.last_error).toBeNull();
    expect(stopped.state).toBe('Stopped');
    expect(restored.state).toBe('Running');

    // The stop powered the guest off ("reboot: Power down" is on its console); a tick after
    // that is the restored guest running again, and its boot_id says it is the same boot:
    // memory came back, nothing rebooted.
    const lastLine = output.trimEnd().split('\n').at(-1)!.trim();
    expect(lastLine, output).toMatch(TICK);
    expect(TICK.exec(lastLine)![2]).toBe(bootId);
  }, 180_000);

  it('runs the SDK example', async () => {
    const output = await runTypeScript(substitute(blocks[2]!.code, README_URL, baseUrl));

    expect(output).toMatch(/^next snapshot at \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    expect(output).toMatch(/^before-upgrade: Standby, ready, frozen \d+ ms$/m);
    const sdkDemo = await api<{ state: string }>('/instances/sdk-demo');
    expect(sdkDemo.state).toBe('Running');
  }, 180_000);

  it('cleans up, leaving no guest or snapshot behind, and stops on Ctrl-C', async () => {
    await runShell(blocks[3]!.code);

    expect(await api<unknown[]>('/instances')).toEqual([]);
    expect(await api<unknown[]>('/snapshots')).toEqual([]);
    expect(await readdir(join(dataDir, 'snapshots'))).toEqual([]);
    expect(await vmmPids()).toEqual([]);
    await interruptServer();
    expect(serverOutput).toMatch(/"msg":"stopped"/);
    expect(serverOutput).toContain('vmkeep stopped; no guests were running');
    expect(serverOutput).not.toMatch(/"level":(50|60)/);
    await expect(fetch(`${baseUrl}/health`)).rejects.toThrow();
  }, 120_000);
});
