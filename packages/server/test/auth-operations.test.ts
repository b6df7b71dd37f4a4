import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operationTable } from '@vmkeep/api';
import { jwtVerify, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { JWT_SECRET_FILE, resolveJwtSecret, signToken } from '../src/auth.js';
import { closeTestApps, type ManualClock, TEST_SECRET, testApp } from './foundation-app.js';

const UNAUTHORIZED = {
  code: 'unauthorized',
  message: 'a valid bearer token is required (Authorization: Bearer <JWT>)',
};

/** A concrete URL for an operation, its path parameters filled with dummies. */
const urlOf = (path: string) =>
  path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    name === 'asset' ? 'swagger-ui.css' : 'dummy',
  );

function requestFor(op: (typeof operationTable)[number], authorization?: string): RequestInit {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  const init: RequestInit = { method: op.method.toUpperCase(), headers };
  if (op.requestBody) {
    headers['Content-Type'] = 'application/json';
    init.body = '{}';
  }
  return init;
}

afterEach(closeTestApps);

describe('bearer authentication', () => {
  const secured = operationTable.filter((op) => op.auth);
  const open = operationTable.filter((op) => !op.auth);

  it('leaves only health, the spec and the docs open', () => {
    expect(open.map((op) => op.operationId).sort()).toEqual(
      ['getDocs', 'getDocsAsset', 'getHealth', 'getSpecJson', 'getSpecYaml'].sort(),
    );
  });

  it('answers 401 with one message for every secured operation, whatever is wrong', async () => {
    const { app, deps } = await testApp();
    const now = deps.clock.now();
    const otherSecret = new TextEncoder().encode('some-other-secret-0123456789abcdefgh');
    const cases: [string, string | undefined][] = [
      ['no header', undefined],
      ['empty bearer', 'Bearer '],
      ['another scheme', `Basic ${btoa('user:pass')}`],
      ['malformed token', 'Bearer not.a.jwt'],
      [
        'another secret',
        `Bearer ${await signToken(otherSecret, { ttlMs: 3_600_000, nowMs: now })}`,
      ],
      [
        'expired',
        `Bearer ${await signToken(TEST_SECRET, { ttlMs: 60_000, nowMs: now - 120_000 })}`,
      ],
      [
        'no expiry',
        `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt(Math.floor(now / 1000))
          .sign(TEST_SECRET)}`,
      ],
    ];
    for (const op of secured) {
      for (const [what, authorization] of cases) {
        const res = await app.request(urlOf(op.path), requestFor(op, authorization));
        expect(res.status, `${op.operationId}: ${what}`).toBe(401);
        expect(await res.json(), `${op.operationId}: ${what}`).toEqual(UNAUTHORIZED);
      }
    }
  });

  it('lets a valid token through to validation and the handler on every operation', async () => {
    const { app, auth } = await testApp();
    for (const op of secured) {
      const res = await app.request(urlOf(op.path), requestFor(op, auth.Authorization));
      expect(res.status, op.operationId).not.toBe(401);
    }
  });

  it('answers the open operations without a token', async () => {
    const { app } = await testApp();
    for (const op of open) {
      const res = await app.request(urlOf(op.path), requestFor(op));
      expect(res.status, op.operationId).toBe(200);
    }
  });

  it('honours exp against the injected clock', async () => {
    const { app, deps, auth } = await testApp();
    expect((await app.request('/capabilities', { headers: auth })).status).toBe(200);
    (deps.clock as ManualClock).nowMs += 3_600_000 + 1_000;
    expect((await app.request('/capabilities', { headers: auth })).status).toBe(401);
  });
});

describe('the JWT secret', () => {
  it('is generated once into <data>/jwt-secret with mode 0600 and reused', async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), 'vmkeep-auth-')), 'data');
    const first = await resolveJwtSecret({ envSecret: undefined, dataDir });
    const file = join(dataDir, JWT_SECRET_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim().length).toBeGreaterThanOrEqual(32);
    const second = await resolveJwtSecret({ envSecret: undefined, dataDir });
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true);

    const token = await signToken(second, { ttlMs: 60_000 });
    await expect(jwtVerify(token, first)).resolves.toBeDefined();
  });

  it('is JWT_SECRET when set, and then no file is written', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vmkeep-auth-'));
    const secret = await resolveJwtSecret({ envSecret: 'from-the-environment', dataDir });
    expect(new TextDecoder().decode(secret)).toBe('from-the-environment');
    await expect(stat(join(dataDir, JWT_SECRET_FILE))).rejects.toThrow(/ENOENT/);
  });
});
