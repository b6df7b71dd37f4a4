/**
 * Bearer JWT authentication (HS256, verified with jose). Every failure — no header, a
 * malformed token, another secret, an expired one — answers the same 401 message, so the
 * response tells an attacker nothing about which check failed.
 *
 * Without `JWT_SECRET`, the secret is generated on first start into `<data>/jwt-secret`
 * (mode 0600) and reused afterwards; `npm run token` signs with the same one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { DomainError } from './domain/errors.js';
import { durationToMs, parseDuration } from './domain/schedules/duration.js';

/** File name of the generated secret inside the data directory. */
export const JWT_SECRET_FILE = 'jwt-secret';

const ALGORITHM = 'HS256';
const UNAUTHORIZED_MESSAGE = 'a valid bearer token is required (Authorization: Bearer <JWT>)';

/**
 * The signing secret: `JWT_SECRET` when set, else the contents of `<dataDir>/jwt-secret`,
 * created with 32 random bytes if it does not exist yet.
 */
export async function resolveJwtSecret(options: {
  envSecret: string | undefined;
  dataDir: string;
}): Promise<Uint8Array> {
  if (options.envSecret) return new TextEncoder().encode(options.envSecret);
  const path = join(options.dataDir, JWT_SECRET_FILE);
  const existing = await readSecretFile(path);
  if (existing) return existing;

  await mkdir(options.dataDir, { recursive: true });
  try {
    // `wx`: never overwrite a secret another process wrote in the meantime.
    await writeFile(path, `${randomBytes(32).toString('base64url')}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const created = await readSecretFile(path);
  if (!created) throw new Error(`${path} is empty; delete it or set JWT_SECRET`);
  return created;
}

async function readSecretFile(path: string): Promise<Uint8Array | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const secret = text.trim();
  return secret ? new TextEncoder().encode(secret) : undefined;
}

/**
 * Signs a token for the API, valid for `ttlMs` from `nowMs` (default: now). Tests pass a past
 * `nowMs` to make an expired token.
 */
export async function signToken(
  secret: Uint8Array,
  options: { ttlMs: number; subject?: string; nowMs?: number },
): Promise<string> {
  const issuedAt = Math.floor((options.nowMs ?? Date.now()) / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(options.subject ?? 'vmkeep')
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + Math.ceil(options.ttlMs / 1000))
    .sign(secret);
}

/** Checks an `Authorization` header; `now` is the injected clock, so tests control expiry. */
export function createAuthenticator(secret: Uint8Array, now: () => number) {
  // Imported once: given raw bytes, jose imports a WebCrypto key on every request, which was a
  // tenth of the API's CPU time (bench/api-throughput.ts).
  const key = crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  return async function authenticate(header: string | undefined): Promise<void> {
    const token = /^Bearer ([^\s]+)$/i.exec(header?.trim() ?? '')?.[1];
    if (!token) throw new DomainError('unauthorized', UNAUTHORIZED_MESSAGE);
    try {
      await jwtVerify(token, await key, {
        algorithms: [ALGORITHM],
        currentDate: new Date(now()),
        // A token without an expiry would be a key to the server for ever.
        requiredClaims: ['exp'],
      });
    } catch {
      // jose's reason (expired, bad signature, malformed) is deliberately not echoed.
      throw new DomainError('unauthorized', UNAUTHORIZED_MESSAGE);
    }
  };
}

/** A token lifetime written as a Go duration (`24h`, `168h`), in milliseconds; at least 1s. */
export function parseTokenTtl(text: string): number {
  let ns: bigint;
  try {
    ns = parseDuration(text);
  } catch {
    throw new Error(`token lifetime ${JSON.stringify(text)} is not a duration such as 24h or 720h`);
  }
  if (ns < 1_000_000_000n) throw new Error(`token lifetime ${text} is shorter than 1s`);
  return durationToMs(ns);
}
