/**
 * `npm start`'s entry point refusing to start where it would do harm, as a user meets it: a
 * second server on a data dir that one already serves (it would reconcile the first's live
 * guests away), and a port already taken. Each refusal is one clear line, exit code 1, and
 * leaves the running server and its guest as they were. The mock hypervisor keeps it quick.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type VmkeepClient } from '@vmkeep/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const SECRET = 'main-start-guards-secret-0123456789abcdef';

let root: string;
let first: ChildProcess;
let firstUrl: string;
let client: VmkeepClient;

interface Started {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the URL once listening, or with the exit code if it gave up. */
  outcome: Promise<{ url: string } | { code: number | null }>;
}

function start(dataDir: string, port: string): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      VMKEEP_DATA_DIR: dataDir,
      VMKEEP_PORT: port,
      VMKEEP_MOCK_HYPERVISOR: '1',
      VMKEEP_LOG_LEVEL: 'warn',
      JWT_SECRET: SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const outcome = new Promise<{ url: string } | { code: number | null }>((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /is listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve({ url: m[1]! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => resolve({ code }));
  });
  return { child, output: () => output, outcome };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-guards-'));
  const started = start(join(root, 'data'), '0');
  first = started.child;
  const outcome = await started.outcome;
  if (!('url' in outcome)) throw new Error(`first server did not start:\n${started.output()}`);
  firstUrl = outcome.url;
  client = createClient({
    baseUrl: firstUrl,
    token: await signToken(new TextEncoder().encode(SECRET), { ttlMs: 3_600_000 }),
  });
  const created = await client.POST('/instances', {
    body: { name: 'keeper', image: 'default', hypervisor: 'mock' },
  });
  expect(created.data?.state).toBe('Running');
}, 120_000);

afterAll(async () => {
  if (first && first.exitCode === null) {
    const exited = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGTERM');
    await exited;
  }
  await rm(root, { recursive: true, force: true });
});

describe('npm start refuses to do harm', () => {
  it('refuses a data dir another server holds, and the first keeps its guest', async () => {
    const second = start(join(root, 'data'), '0');
    expect(await second.outcome).toEqual({ code: 1 });
    expect(second.output()).toMatch(
      new RegExp(`is in use by another vmkeep server \\(pid ${first.pid}\\); stop it first`),
    );
    const keeper = await client.GET('/instances/{id}', { params: { path: { id: 'keeper' } } });
    expect(keeper.data).toMatchObject({ state: 'Running', state_error: null });
  }, 60_000);

  it('says a taken port is taken, instead of a stack trace', async () => {
    const port = new URL(firstUrl).port;
    const other = start(join(root, 'other-data'), port);
    expect(await other.outcome).toEqual({ code: 1 });
    expect(other.output()).toContain(
      `vmkeep: 127.0.0.1:${port} is already in use; set VMKEEP_PORT to another port`,
    );
    expect(other.output()).not.toMatch(/\n\s+at /);
    // It let go of its own data dir: a server can start on it now.
    const again = start(join(root, 'other-data'), '0');
    expect(await again.outcome).toMatchObject({ url: expect.any(String) });
    const exited = new Promise((resolve) => again.child.once('exit', resolve));
    again.child.kill('SIGTERM');
    await exited;
  }, 60_000);
});
