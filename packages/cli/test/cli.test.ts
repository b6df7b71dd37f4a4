import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, createProgram } from '../src/index.js';

/** Runs the CLI in-process; `answer` plays the server for API commands. */
async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  answer?: (request: Request) => Response,
) {
  const out: string[] = [];
  const err: string[] = [];
  const requests: Request[] = [];
  const io: CliIo = {
    env,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    fetch: async (request) => {
      requests.push(request);
      if (!answer) throw new Error('no server in this test');
      return answer(request);
    },
  };
  await createProgram(io)
    .exitOverride()
    .parseAsync(['node', 'vmkeep', ...args]);
  return { stdout: out.join(''), stderr: err.join(''), requests };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('vmkeep token', () => {
  it('prints a token signed with the secret the server generated in the data dir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vmkeep-cli-'));
    const { stdout } = await run(['token', '--data-dir', dataDir, '--ttl', '2h']);
    const secret = new TextEncoder().encode(
      (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim(),
    );
    const { payload } = await jwtVerify(stdout.trim(), secret);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(7200);
  });

  it('signs with JWT_SECRET when it is set', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vmkeep-cli-'));
    const { stdout } = await run(['token', '--data-dir', dataDir], { JWT_SECRET: 'env-secret' });
    await expect(
      jwtVerify(stdout.trim(), new TextEncoder().encode('env-secret')),
    ).resolves.toBeDefined();
  });

  it('refuses to make up a secret where there is no data dir, naming the fixes', async () => {
    const missing = join(await mkdtemp(join(tmpdir(), 'vmkeep-cli-')), 'data');
    await expect(run(['token', '--data-dir', missing])).rejects.toThrow(
      /no vmkeep data directory at .*\/data: run this in the folder where you ran `npm start`/,
    );
    await expect(readFile(join(missing, 'jwt-secret'))).rejects.toThrow(/ENOENT/);
  });

  it('rejects a lifetime that is not a Go duration', async () => {
    await expect(run(['token', '--ttl', '7d'])).rejects.toThrow(/not a duration/);
  });
});

describe('--help', () => {
  it('names VMKEEP_TOKEN without printing the token it holds', async () => {
    const out: string[] = [];
    const io: CliIo = {
      env: { VMKEEP_TOKEN: 'secret-token-value' },
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
    };
    await createProgram(io)
      .exitOverride()
      .parseAsync(['node', 'vmkeep', '--help'])
      .catch(() => undefined);
    expect(out.join('')).toContain('bearer token (default $VMKEEP_TOKEN)');
    expect(out.join('')).not.toContain('secret-token-value');
  });
});

describe('API commands', () => {
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

  it('schedule get calls the encoded path with the token and prints the JSON', async () => {
    const schedule = { instance_id: 'i1', interval: '1m0s' };
    const { stdout, requests } = await run(
      ['--url', 'http://vmkeep.test', '--token', 't0k', 'schedule', 'get', 'a/b'],
      {},
      () => json(schedule),
    );
    expect(requests[0]?.url).toBe('http://vmkeep.test/instances/a%2Fb/snapshot-schedule');
    expect(requests[0]?.headers.get('Authorization')).toBe('Bearer t0k');
    expect(JSON.parse(stdout)).toEqual(schedule);
  });

  it('snapshots list passes the instance filter and instances list the state', async () => {
    const env = { VMKEEP_URL: 'http://vmkeep.test', VMKEEP_TOKEN: 'env-token' };
    const a = await run(['snapshots', 'list', '--instance', 'gone'], env, (request) =>
      request.url.includes('/instances/')
        ? json({ code: 'not_found', message: 'no' }, 404)
        : json([]),
    );
    expect(a.requests.map((r) => r.url)).toEqual([
      'http://vmkeep.test/instances/gone',
      'http://vmkeep.test/snapshots?source_instance_id=gone',
    ]);
    expect(a.requests[1]?.headers.get('Authorization')).toBe('Bearer env-token');
    const b = await run(['instances', 'list', '--state', 'Running'], env, () => json([]));
    expect(b.requests[0]?.url).toBe('http://vmkeep.test/instances?state=Running');
    expect(b.stdout.trim()).toBe('[]');
  });

  it('snapshots list --instance takes a name and filters by its id', async () => {
    const { requests } = await run(
      ['--url', 'http://vmkeep.test', 'snapshots', 'list', '--instance', 'demo'],
      {},
      (request) => (request.url.includes('/instances/') ? json({ id: 'i-demo' }) : json([])),
    );
    expect(requests[1]?.url).toBe('http://vmkeep.test/snapshots?source_instance_id=i-demo');
  });

  it('snapshots list --instance reports an ambiguous prefix instead of listing nothing', async () => {
    const { stderr, requests } = await run(
      ['--url', 'http://vmkeep.test', 'snapshots', 'list', '--instance', 'a'],
      {},
      () => json({ code: 'ambiguous', message: '"a" matches more than one instance id' }, 409),
    );
    expect(requests).toHaveLength(1);
    expect(stderr).toBe('error: ambiguous: "a" matches more than one instance id\n');
    expect(process.exitCode).toBe(1);
  });

  it('prints the server error code and sets a failing exit code', async () => {
    const { stderr } = await run(['schedule', 'get', 'nope'], {}, () =>
      json({ code: 'not_found', message: 'snapshot schedule not found' }, 404),
    );
    expect(stderr).toBe('error: not_found: snapshot schedule not found\n');
    expect(process.exitCode).toBe(1);
  });
});
