import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

/**
 * Degraded tenants on the real host: tenant "broken" gets a damaged database file and
 * tenant "keyless" loses its key file while the host is down; after a restart both answer
 * 503 with a clear detail, the operator's status shows them degraded with the reason, and
 * tenant "fine" works as before.
 */
let host: HostProcess;
const dataDir = mkdtempSync(join(tmpdir(), 'degraded-host-'));
const call = client(() => host.url);
const PW = 'correct horse battery';
const T: Record<string, string> = {};
let keyFile = '';

function expect503(r: CallResult, detail: RegExp) {
  expect(r.status, r.text).toBe(503);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status: 503, type: 'urn:tenant-ledger:problem:unavailable', detail: expect.stringMatching(detail) });
  expect(r.json.detail).toMatch(/Other tenants are not affected/);
  expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
}

async function login(tenant: string, password = PW): Promise<CallResult> {
  return call('POST', `/api/t/${tenant}/auth/token`, { body: { email: `admin@${tenant}.test`, password } });
}

beforeAll(async () => {
  const env = { OPERATOR_KEY: randomBytes(32).toString('base64url') };
  host = await startHostProcess(env, dataDir);
  for (const t of ['fine', 'broken', 'keyless']) {
    const r = await call('POST', '/api/tenants', {
      token: host.operatorKey,
      body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
    });
    expect(r.status, r.text).toBe(201);
    const l = await login(t);
    expect(l.status, l.text).toBe(200);
    T[t] = l.json.access_token;
  }
  expect(await host.stop()).toBe(0);

  // While the host is down: damage one database, take another tenant's key away.
  const db = join(dataDir, 'tenants', 'broken', 'events.db');
  writeFileSync(db, randomBytes(statSync(db).size));
  for (const side of ['-wal', '-shm']) rmSync(db + side, { force: true });
  const meta = JSON.parse(readFileSync(join(dataDir, 'tenants', 'keyless', 'meta.json'), 'utf8')) as { keyName: string };
  keyFile = join(dataDir, 'keys', `${meta.keyName}.json`);
  expect(existsSync(keyFile)).toBe(true);
  renameSync(keyFile, `${keyFile}.away`);

  host = await startHostProcess(env, dataDir);
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('degraded tenants answer 503; the others are unaffected', () => {
  it('a damaged database: sign-in and reads → 503 "damaged"; the operator sees degraded (store_corrupt)', async () => {
    expect503(await login('broken'), /database is damaged/);
    expect503(await call('GET', '/api/t/broken/types', { token: T.broken }), /database is damaged/);
    const status = await call('GET', '/api/tenants/broken', { token: host.operatorKey });
    expect(status.status, status.text).toBe(200);
    expect(status.json).toMatchObject({
      id: 'broken',
      status: 'degraded',
      degraded: { reason: 'store_corrupt', detail: expect.stringMatching(/damaged/), since: expect.any(String) },
    });
  });

  it('a missing key: sign-in → 503 "encryption key", never "wrong password", and never a lockout', async () => {
    for (let i = 0; i < 10; i++) expect503(await login('keyless', i % 2 ? PW : 'a wrong password'), /encryption key/);
    expect503(await call('GET', '/api/t/keyless/types', { token: T.keyless }), /encryption key/);
    const status = await call('GET', '/api/tenants/keyless', { token: host.operatorKey });
    expect(status.json).toMatchObject({ id: 'keyless', status: 'degraded', degraded: { reason: 'key_unavailable' } });
    const list = await call('GET', '/api/tenants', { token: host.operatorKey });
    expect(list.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'keyless', status: 'degraded' }),
        expect.objectContaining({ id: 'fine', status: 'ready' }),
      ]),
    );

    // The key comes back: the right password works at once (ten 503s counted nothing).
    renameSync(`${keyFile}.away`, keyFile);
    const ok = await login('keyless');
    expect(ok.status, ok.text).toBe(200);
    expect((await call('GET', '/api/tenants/keyless', { token: host.operatorKey })).json).toMatchObject({ status: 'ready' });
    expect((await call('GET', '/api/tenants/keyless', { token: host.operatorKey })).json.degraded).toBeUndefined();
  });

  it('the healthy tenant signs in, reads and writes; its status is ready', async () => {
    const l = await login('fine');
    expect(l.status, l.text).toBe(200);
    const token = l.json.access_token;
    expect(
      (await call('POST', '/api/t/fine/users', { token, body: { email: 'new@fine.test', password: PW, roles: ['viewer'] } })).status,
    ).toBe(201);
    expect((await call('GET', '/api/t/fine/types', { token })).status).toBe(200);
    expect((await call('GET', '/api/tenants/fine', { token: host.operatorKey })).json).toMatchObject({ id: 'fine', status: 'ready' });
  });

  it('degraded or not, callers without the right credential learn nothing more', async () => {
    // No token → 401 before the tenant is opened; a user token on the operator endpoint → 401.
    expect((await call('GET', '/api/t/broken/types')).status).toBe(401);
    expect((await call('GET', '/api/tenants/broken', { token: T.fine })).status).toBe(401);
    // Another tenant's token at a degraded tenant: the tenant cannot check it, 503.
    expect((await call('GET', '/api/t/broken/types', { token: T.fine })).status).toBe(503);
    // A healthy tenant still refuses another tenant's token.
    expect((await call('GET', '/api/t/fine/types', { token: T.keyless })).status).toBe(401);
  });
});
