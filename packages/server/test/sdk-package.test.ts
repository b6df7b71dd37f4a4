/**
 * The SDK as a user gets it, following packages/sdk/README.md: `npm run build -w @vmkeep/sdk`,
 * then `npm install` of the tarball it packs, copied into a project outside the repository (so
 * nothing resolves through the workspace); run by plain Node without tsx, and compiled by
 * `tsc` against the shipped `.d.ts`.
 */
import { execFile } from 'node:child_process';
import { copyFile, lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveServer, startLiveServer } from './support/http-live-server.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DIST = join(REPO, 'packages/sdk/dist');

/** Plain JavaScript, as a user's script would be: no tsx, no workspace. */
const SCRIPT = `
import { createClient, toVmkeepError } from '@vmkeep/sdk';

const vmkeep = createClient({ baseUrl: process.env.VMKEEP_URL, token: process.env.VMKEEP_TOKEN });
const created = await vmkeep.POST('/instances', {
  body: { name: 'from-package', image: 'default', hypervisor: 'mock' },
});
const deleted = await vmkeep.DELETE('/instances/{id}', { params: { path: { id: 'from-package' } } });
const missing = await vmkeep.GET('/instances/{id}', { params: { path: { id: 'from-package' } } });
const error = toVmkeepError(missing.error, missing.response);
console.log(JSON.stringify({
  created: [created.response.status, created.data?.state],
  deleted: [deleted.response.status, deleted.error ?? null],
  missing: [error.name, error.code, error.status],
}));
`;

/** The SDK README's example, compiled strictly; a wrong path must not compile. */
const TYPED = `
import { createClient, type Snapshot, toVmkeepError } from '@vmkeep/sdk';

export async function state(token: string): Promise<string> {
  const vmkeep = createClient({ baseUrl: 'http://127.0.0.1:8080', token });
  const { data, error, response } = await vmkeep.GET('/instances/{id}', {
    params: { path: { id: 'demo' } },
  });
  if (error) throw toVmkeepError(error, response);
  return data.state;
}

export const pinned = (s: Snapshot): boolean => s.pinned;

export async function wrongPath(token: string) {
  const vmkeep = createClient({ baseUrl: 'http://127.0.0.1:8080', token });
  // @ts-expect-error there is no /instance/{id} in the API.
  return vmkeep.GET('/instance/{id}', { params: { path: { id: 'demo' } } });
}
`;

let server: LiveServer;
let project: string;

beforeAll(async () => {
  await run('npm', ['run', '-s', 'build', '-w', '@vmkeep/sdk'], { cwd: REPO });
  project = await mkdtemp(join(tmpdir(), 'vmkeep-sdk-user-'));
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }),
  );
  const { version } = JSON.parse(await readFile(join(DIST, 'package.json'), 'utf8'));
  const tarball = join(project, 'vmkeep-sdk.tgz');
  await copyFile(join(DIST, `vmkeep-sdk-${version}.tgz`), tarball);
  // openapi-fetch comes from npm's cache when `npm ci` has run, as in every test run here.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: project,
    timeout: 120_000,
  });
  server = await startLiveServer({ mock: true, env: { VMKEEP_MOCK_HYPERVISOR: '1' } });
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the SDK package, installed from its build', () => {
  it('is a copy with its own dependency, not a link into the repository', async () => {
    expect((await lstat(join(project, 'node_modules/@vmkeep/sdk'))).isSymbolicLink()).toBe(false);
    const manifest = JSON.parse(
      await readFile(join(project, 'node_modules/@vmkeep/sdk/package.json'), 'utf8'),
    );
    expect(manifest.exports['.']).toEqual({ types: './index.d.ts', import: './index.js' });
    await expect(
      readFile(join(project, 'node_modules/openapi-fetch/package.json'), 'utf8'),
    ).resolves.toContain('"openapi-fetch"');
  });

  it('runs under plain Node against a server', async () => {
    await writeFile(join(project, 'main.js'), SCRIPT);
    const { stdout } = await run('node', ['main.js'], {
      cwd: project,
      env: { ...process.env, VMKEEP_URL: server.baseUrl, VMKEEP_TOKEN: server.token },
    });
    expect(JSON.parse(stdout)).toEqual({
      created: [201, 'Running'],
      deleted: [204, null],
      missing: ['VmkeepError', 'not_found', 404],
    });
  });

  it('compiles the README example against the shipped types, and rejects a wrong path', async () => {
    await writeFile(join(project, 'typed.ts'), TYPED);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2022', 'DOM'],
          types: [],
        },
        files: ['typed.ts'],
      }),
    );
    const tsc = join(REPO, 'node_modules/.bin/tsc');
    const result = await run(tsc, ['-p', project]).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    expect(result).toBe('');
  }, 60_000);
});
