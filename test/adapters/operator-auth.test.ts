import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as jose from 'jose';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateOperatorKey, StaticKeyOperatorAuthenticator } from '../../shared/adapters/embedded/operator-key';
import { OidcOperatorAuthenticator } from '../../shared/adapters/oidc/oidc-operator-auth';
import { isAppError, type ErrorCode } from '../../shared/domain/errors';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer';

/** Awaits a rejection and checks it is an AppError with this code/status, not leaking `secret`. */
async function expectAppError(promise: Promise<unknown>, code: ErrorCode, status: number, secret?: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a rejection').toBeDefined();
  expect(isAppError(error), `expected an AppError, got ${String(error)}`).toBe(true);
  expect(error).toMatchObject({ code, status });
  if (secret !== undefined) {
    expect((error as Error).message).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
  }
}

describe('StaticKeyOperatorAuthenticator', () => {
  const key = `${'k'.repeat(10)}Zq8_-x2Lw9PmR4tYv7NcJ1sHbE3`;
  const auth = new StaticKeyOperatorAuthenticator(key);
  const fingerprint = createHash('sha256').update(key).digest('hex').slice(0, 12);

  it('accepts the right key and names the operator by key fingerprint', async () => {
    await expect(auth.authenticate(`Bearer ${key}`)).resolves.toEqual({ id: `operator-key:${fingerprint}` });
  });

  it('abortSignal: an aborted signal is refused with an AbortError, whatever the key', async () => {
    const ac = new AbortController();
    ac.abort(new Error('caller gave up'));
    for (const header of [`Bearer ${key}`, 'Bearer wrong', null]) {
      await expect(auth.authenticate(header, { abortSignal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    }
  });

  it('accepts the scheme in any case', async () => {
    await expect(auth.authenticate(`bearer ${key}`)).resolves.toEqual({ id: `operator-key:${fingerprint}` });
    await expect(auth.authenticate(`BEARER ${key}`)).resolves.toEqual({ id: `operator-key:${fingerprint}` });
  });

  const nearMiss = key.slice(0, -1) + (key.endsWith('3') ? '4' : '3');
  const rejected: Array<[string, string | null]> = [
    ['missing header', null],
    ['empty header', ''],
    ['scheme only', 'Bearer'],
    ['scheme and blank', 'Bearer   '],
    ['Basic scheme', `Basic ${key}`],
    ['Basic with base64 credentials', `Basic ${Buffer.from(`operator:${key}`).toString('base64')}`],
    ['key without scheme', key],
    ['wrong key', `Bearer ${'x'.repeat(43)}`],
    ['near miss (last char off)', `Bearer ${nearMiss}`],
    ['near miss (first char off)', `Bearer K${key.slice(1)}`],
    ['prefix of the key', `Bearer ${key.slice(0, -1)}`],
    ['key plus a character', `Bearer ${key}x`],
    ['key with extra token', `Bearer ${key} ${key}`],
  ];
  it.each(rejected)('rejects %s with 401', async (_label, header) => {
    await expectAppError(auth.authenticate(header), 'unauthenticated', 401, key);
  });

  it('refuses keys shorter than 32 characters without echoing them', () => {
    const short = 'short-secret-value-123';
    expect(() => new StaticKeyOperatorAuthenticator(short)).toThrow(/32/);
    try {
      new StaticKeyOperatorAuthenticator(short);
    } catch (e) {
      expect((e as Error).message).not.toContain(short);
    }
  });
});

describe('loadOrCreateOperatorKey', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'operator-key-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })));
  });

  it('creates a 0600 key file in a 0700 folder and returns the same key next time', async () => {
    const dataDir = path.join(await tempDir(), 'data');
    const first = await loadOrCreateOperatorKey(dataDir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(path.join(dataDir, 'operator.key'));
    expect(first.key).toMatch(/^[A-Za-z0-9_-]{43}$/); // base64url of 32 bytes
    if (process.platform !== 'win32') {
      expect((await fs.stat(path.join(dataDir, 'operator.key'))).mode & 0o777).toBe(0o600);
      expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o700);
    }
    expect((await fs.readdir(dataDir)).sort()).toEqual(['operator.key']); // no temp files left

    const second = await loadOrCreateOperatorKey(dataDir);
    expect(second).toEqual({ key: first.key, created: false, path: first.path });

    // The loaded key works with the authenticator.
    const auth = new StaticKeyOperatorAuthenticator(second.key);
    await expect(auth.authenticate(`Bearer ${first.key}`)).resolves.toHaveProperty('id');
  });

  it('creates one key when started twice at once', async () => {
    const dataDir = await tempDir();
    const results = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateOperatorKey(dataDir)));
    expect(new Set(results.map((r) => r.key)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await fs.readdir(dataDir)).sort()).toEqual(['operator.key']);
  });

  it('prefers the OPERATOR_KEY value and writes no file', async () => {
    const dataDir = await tempDir();
    const envKey = 'e'.repeat(40);
    await expect(loadOrCreateOperatorKey(dataDir, envKey)).resolves.toEqual({ key: envKey, created: false });
    expect(await fs.readdir(dataDir)).toEqual([]);
  });

  it('rejects a short OPERATOR_KEY with an error naming the variable, not the value', async () => {
    const dataDir = await tempDir();
    const short = 'too-short-9f8e7d';
    const error = await loadOrCreateOperatorKey(dataDir, short).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain('OPERATOR_KEY');
    expect(error?.message).not.toContain(short);
    expect(await fs.readdir(dataDir)).toEqual([]);
  });

  it('treats an empty OPERATOR_KEY as unset', async () => {
    const dataDir = await tempDir();
    const result = await loadOrCreateOperatorKey(dataDir, '');
    expect(result.created).toBe(true);
  });

  it('refuses a key file holding a short key, without echoing it', async () => {
    const dataDir = await tempDir();
    await fs.writeFile(path.join(dataDir, 'operator.key'), 'abc123\n', { mode: 0o600 });
    await expect(loadOrCreateOperatorKey(dataDir)).rejects.toThrow(/operator\.key/);
    await expect(loadOrCreateOperatorKey(dataDir)).rejects.not.toThrow(/abc123/);
  });
});

describe('OidcOperatorAuthenticator', () => {
  const audience = 'api://tenant-ledger-operators';
  const role = 'Ledger.Operator';
  let idp: LocalIssuer;
  let auth: OidcOperatorAuthenticator;

  beforeAll(async () => {
    idp = await startLocalIssuer({ audience });
    auth = new OidcOperatorAuthenticator({ issuer: idp.issuer, audience, requiredRole: role });
  });
  afterAll(async () => {
    await idp.close();
  });

  const operatorClaims = { sub: 'subject-1', oid: '00000000-0000-0000-0000-0000000000a1', roles: [role] };

  it('accepts a valid token carrying the role; principal is the oid', async () => {
    const token = await idp.sign(operatorClaims);
    await expect(auth.authenticate(`Bearer ${token}`)).resolves.toEqual({ id: `oidc:${operatorClaims.oid}` });
  });

  it('falls back to sub when there is no oid', async () => {
    const token = await idp.sign({ sub: 'service-principal-7', roles: ['Other', role] });
    await expect(auth.authenticate(`bearer ${token}`)).resolves.toEqual({ id: 'oidc:service-principal-7' });
  });

  it('fetches discovery and the key set once, not per request', async () => {
    const fresh = new OidcOperatorAuthenticator({ issuer: idp.issuer, audience, requiredRole: role });
    const before = { ...idp.requests };
    const tokens = await Promise.all([1, 2, 3].map(() => idp.sign(operatorClaims)));
    await Promise.all(tokens.map((t) => fresh.authenticate(`Bearer ${t}`)));
    await fresh.authenticate(`Bearer ${tokens[0]}`);
    expect(idp.requests.discovery - before.discovery).toBe(1);
    expect(idp.requests.jwks - before.jwks).toBe(1);
  });

  it('uses a configured jwksUri without discovery', async () => {
    const direct = new OidcOperatorAuthenticator({ issuer: idp.issuer, audience, requiredRole: role, jwksUri: idp.jwksUri });
    const before = idp.requests.discovery;
    const token = await idp.sign(operatorClaims);
    await expect(direct.authenticate(`Bearer ${token}`)).resolves.toEqual({ id: `oidc:${operatorClaims.oid}` });
    expect(idp.requests.discovery).toBe(before);
  });

  it('answers 403 when the role is missing', async () => {
    const token = await idp.sign({ ...operatorClaims, roles: ['Ledger.Reader'] });
    await expectAppError(auth.authenticate(`Bearer ${token}`), 'forbidden', 403, token);
  });

  it('answers 403 when there is no roles claim, or it is not an array', async () => {
    await expectAppError(auth.authenticate(`Bearer ${await idp.sign({ sub: 's' })}`), 'forbidden', 403);
    await expectAppError(auth.authenticate(`Bearer ${await idp.sign({ sub: 's', roles: role })}`), 'forbidden', 403);
  });

  it('abortSignal: an aborted signal is refused before any request; an abort while the issuer stalls ends the wait with an AbortError', async () => {
    const fresh = new OidcOperatorAuthenticator({ issuer: idp.issuer, audience, requiredRole: role });
    const token = await idp.sign(operatorClaims);
    const before = { ...idp.requests };
    const fired = new AbortController();
    fired.abort(new Error('caller gave up'));
    await expect(fresh.authenticate(`Bearer ${token}`, { abortSignal: fired.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(idp.requests).toEqual(before);
    await expect(fresh.authenticate(`Bearer ${token}`, { abortSignal: new AbortController().signal })).resolves.toEqual({
      id: `oidc:${operatorClaims.oid}`,
    });

    // An issuer that accepts the discovery request and never answers: the caller gives up meanwhile.
    const ac = new AbortController();
    const stalled = createServer(() => ac.abort());
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stalled.address() as AddressInfo;
      const slow = new OidcOperatorAuthenticator({ issuer: `http://127.0.0.1:${port}`, audience, requiredRole: role, timeoutInMs: 60_000 });
      await expect(slow.authenticate(`Bearer ${token}`, { abortSignal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  describe('answers 401 for a token that is', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['expired', () => idp.sign(operatorClaims, { exp: now() - 3600 }), /expired/],
      ['for another audience', () => idp.sign(operatorClaims, { aud: 'api://someone-else' }), /"aud"/],
      ['from another issuer', () => idp.sign(operatorClaims, { iss: 'https://login.example.invalid/tenant/v2.0' }), /"iss"/],
      [
        'signed by another key under the issuer kid',
        async () => idp.sign(operatorClaims, { key: (await jose.generateKeyPair('RS256')).privateKey }),
        /signature/,
      ],
      [
        'signed by another key with an unknown kid',
        async () => idp.sign(operatorClaims, { kid: 'unknown-kid', key: (await jose.generateKeyPair('RS256')).privateKey }),
        /known key/,
      ],
      ['signed by the issuer key but with an unknown kid', () => idp.sign(operatorClaims, { kid: 'unknown-kid' }), /known key/],
      ['unsigned (alg none)', () => idp.sign(operatorClaims, { alg: 'none' }), /algorithm/],
      ['HS256 with the public key as secret', () => idp.sign(operatorClaims, { alg: 'HS256' }), /algorithm/],
      ['HS256 with the public key as secret and no kid', () => idp.sign(operatorClaims, { alg: 'HS256', kid: null }), /algorithm/],
      ['signed with an algorithm not accepted (RS512)', () => idp.sign(operatorClaims, { alg: 'RS512' }), /algorithm/],
      [
        'tampered (roles added after signing)',
        async () => {
          const token = await idp.sign({ sub: 'intruder' });
          const [h, , s] = token.split('.');
          const forged = Buffer.from(
            JSON.stringify({ sub: 'intruder', roles: [role], iss: idp.issuer, aud: audience, exp: now() + 300 }),
          ).toString('base64url');
          return `${h}.${forged}.${s}`;
        },
        /signature/,
      ],
      ['not a JWT', async () => 'not-a-jwt', /malformed/],
      ['garbage in three parts', async () => 'a.b.c', /not valid/],
    ];
    it.each(cases)('%s', async (_label, makeToken, reason) => {
      const token = await makeToken();
      await expectAppError(auth.authenticate(`Bearer ${token}`), 'unauthenticated', 401, token);
      await expect(auth.authenticate(`Bearer ${token}`)).rejects.toThrow(reason);
    });

    it('missing, empty or of another scheme', async () => {
      const token = await idp.sign(operatorClaims);
      for (const header of [null, '', 'Bearer', `Basic ${token}`, token]) {
        await expectAppError(auth.authenticate(header), 'unauthenticated', 401, token);
      }
    });
  });

  describe('when the issuer is down', () => {
    let down: LocalIssuer;
    afterEach(async () => {
      await down?.close().catch(() => undefined);
    });

    it('answers 503 (not 401) when discovery fails, and recovers once the issuer is back', async () => {
      down = await startLocalIssuer({ audience });
      const token = await down.sign(operatorClaims);
      const authFlaky = new OidcOperatorAuthenticator({ issuer: down.issuer, audience, requiredRole: role });
      down.setFailing(true);
      await expectAppError(authFlaky.authenticate(`Bearer ${token}`), 'unavailable', 503, token);
      down.setFailing(false);
      await expect(authFlaky.authenticate(`Bearer ${token}`)).resolves.toEqual({ id: `oidc:${operatorClaims.oid}` });
    });

    it('answers 503 (not 401) when the issuer does not answer at all', async () => {
      down = await startLocalIssuer({ audience });
      const token = await down.sign(operatorClaims);
      const authDown = new OidcOperatorAuthenticator({ issuer: down.issuer, audience, requiredRole: role, timeoutInMs: 2000 });
      await down.close();
      await expectAppError(authDown.authenticate(`Bearer ${token}`), 'unavailable', 503, token);
    });

    it('answers 503 when the key set cannot be fetched', async () => {
      down = await startLocalIssuer({ audience });
      const token = await down.sign(operatorClaims);
      const authDown = new OidcOperatorAuthenticator({
        issuer: down.issuer,
        audience,
        requiredRole: role,
        jwksUri: down.jwksUri,
        timeoutInMs: 2000,
      });
      await down.close();
      await expectAppError(authDown.authenticate(`Bearer ${token}`), 'unavailable', 503, token);
    });

    it('answers 503 when the discovery document is for another issuer', async () => {
      const misconfigured = new OidcOperatorAuthenticator({ issuer: `${idp.issuer}/`, audience, requiredRole: role });
      const token = await idp.sign(operatorClaims, { iss: `${idp.issuer}/` });
      await expectAppError(misconfigured.authenticate(`Bearer ${token}`), 'unavailable', 503, token);
    });
  });
});
