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

function start(dataDir: string, port: string, env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      VMKEEP_DATA_DIR: dataDir,
      VMKEEP_PORT: port,
      VMKEEP_MOCK_HYPERVISOR: '1',
      VMKEEP_LOG_LEVEL: 'warn',
      JWT_SECRET: SECRET,
      ...env,
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

/** The URL a started server listens on; fails with its output if it did not start. */
async function urlOf(started: Started): Promise<string> {
  const outcome = await started.outcome;
  if (!('url' in outcome)) throw new Error(`server did not start:\n${started.output()}`);
  return outcome.url;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const testToken = () => signToken(new TextEncoder().encode(SECRET), { ttlMs: 3_600_000 });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmkeep-guards-'));
  const started = start(join(root, 'data'), '0');
  first = started.child;
  firstUrl = await urlOf(started);
  client = createClient({ baseUrl: firstUrl, token: await testToken() });
  const created = await client.POST('/instances', {
    body: { name: 'keeper', image: 'default', hypervisor: 'mock' },
  });
  expect(created.data?.state).toBe('Running');
}, 120_000);

afterAll(async () => {
  if (first) await stop(first);
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

  it('says a taken port is taken, and leaves that data dir and its guests as they were', async () => {
    // A server on another data dir with a guest of its own, stopped with the guest kept.
    const otherDir = join(root, 'other-data');
    const other = start(otherDir, '0');
    const otherUrl = await urlOf(other);
    const otherClient = createClient({ baseUrl: otherUrl, token: await testToken() });
    await otherClient.POST('/instances', {
      body: { name: 'other', image: 'default', hypervisor: 'mock' },
    });
    await stop(other.child);

    // Started again on the first server's port, with VMKEEP_ON_EXIT=shutdown: it must not
    // power the guest off on its way out, since it never started.
    const port = new URL(firstUrl).port;
    const clash = start(otherDir, port, { VMKEEP_ON_EXIT: 'shutdown' });
    expect(await clash.outcome).toEqual({ code: 1 });
    expect(clash.output()).toContain(
      `vmkeep: 127.0.0.1:${port} is already in use; set VMKEEP_PORT to another port`,
    );
    expect(clash.output()).not.toMatch(/\n\s+at /);

    // It let go of its data dir, and the guest is still running there.
    const again = start(otherDir, '0');
    const againClient = createClient({ baseUrl: await urlOf(again), token: await testToken() });
    const guest = await againClient.GET('/instances/{id}', { params: { path: { id: 'other' } } });
    expect(guest.data).toMatchObject({ state: 'Running' });
    await stop(again.child);
  }, 60_000);
});
