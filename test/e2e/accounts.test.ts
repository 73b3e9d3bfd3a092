import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

/**
 * Accounts through the real host (node dist/host/start.js): sign-in throttling per client
 * (two real source addresses on loopback: 127.0.0.1 is the admin, 127.0.0.2 the attacker),
 * the last-admin rule under concurrent HTTP requests, and what a viewer's audit pages show.
 */
let host: HostProcess;
const call = client(() => host.url);
const PW = 'correct horse battery';
const T: Record<string, string> = {};
const ids: Record<string, string> = {};

function expectProblem(r: CallResult, status: number) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String) });
}

/** POST a sign-in from a chosen local source address (a different client as the host sees it). */
function loginFrom(
  source: string,
  tenant: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<CallResult> {
  const url = new URL(host.url);
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(url.port),
        localAddress: source,
        method: 'POST',
        path: `/api/t/${tenant}/auth/token`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: h, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function login(tenant: string, email: string): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password: PW } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token;
}

beforeAll(async () => {
  host = await startHostProcess();
  for (const t of ['acme', 'globex']) {
    const r = await call('POST', '/api/tenants', {
      token: host.operatorKey,
      body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
    });
    expect(r.status, r.text).toBe(201);
    T[`${t}-admin`] = await login(t, `admin@${t}.test`);
  }
  for (const [who, role] of [
    ['admin2', 'admin'],
    ['editor', 'editor'],
    ['viewer', 'viewer'],
  ] as const) {
    const r = await call('POST', '/api/t/acme/users', {
      token: T['acme-admin'],
      body: { email: `${who}@acme.test`, password: PW, roles: [role] },
    });
    expect(r.status, r.text).toBe(201);
    ids[who] = r.json.userId;
    T[who] = await login('acme', `${who}@acme.test`);
  }
  ids.admin = JSON.parse(Buffer.from(T['acme-admin']!.split('.')[1]!, 'base64url').toString()).sub;
});

afterAll(async () => {
  const code = await host?.stop();
  host?.cleanup();
  expect(code).toBe(0);
});

describe('sign-in throttling per client', () => {
  it("24 parallel wrong passwords from an attacker: at most 5 are even tried, the rest 429; the attacker's own address stays locked, the admin's is not", async () => {
    const answers = await Promise.all(
      Array.from({ length: 24 }, () => loginFrom('127.0.0.2', 'acme', 'admin@acme.test', 'not the password')),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    const limited = answers.find((a) => a.status === 429)!;
    expectProblem(limited, 429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Even the right password from the attacker's address waits…
    expect((await loginFrom('127.0.0.2', 'acme', 'admin@acme.test', PW)).status).toBe(429);
    // …and writing another address into X-Forwarded-For does not make it someone else.
    expect((await loginFrom('127.0.0.2', 'acme', 'admin@acme.test', PW, { 'x-forwarded-for': '127.0.0.1' })).status).toBe(429);
    // The admin, from their own address, signs in at once.
    const ok = await loginFrom('127.0.0.1', 'acme', 'admin@acme.test', PW);
    expect(ok.status, ok.text).toBe(200);
    // Another tenant's sign-in from the attacker's address is unaffected (another account).
    expect((await loginFrom('127.0.0.2', 'globex', 'admin@globex.test', PW)).status).toBe(200);
  });

  it('failures for an unknown email and a wrong password look and count the same', async () => {
    for (const email of ['viewer@acme.test', 'nobody@acme.test']) {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await loginFrom('127.0.0.3', 'acme', email, 'wrong wrong wrong')).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual([429, 429]);
    }
  });
});

describe('a tenant always keeps an enabled admin', () => {
  it('two admins disabling each other in concurrent requests: one succeeds, the other is refused, one admin remains', async () => {
    const [r1, r2] = await Promise.all([
      call('PATCH', `/api/t/acme/users/${ids.admin2}`, { token: T['acme-admin'], body: { disabled: true } }),
      call('PATCH', `/api/t/acme/users/${ids.admin}`, { token: T.admin2, body: { disabled: true } }),
    ]);
    const statuses = [r1.status, r2.status].sort();
    expect(statuses[0]).toBe(200);
    // 409/422: the guard refused it; 401: the other request had already disabled this caller.
    expect([401, 409, 422]).toContain(statuses[1]);
    const refused = r1.status === 200 ? r2 : r1;
    expectProblem(refused, refused.status);
    const winner = r1.status === 200 ? 'acme-admin' : 'admin2';
    const token = winner === 'acme-admin' ? await login('acme', 'admin@acme.test') : await login('acme', 'admin2@acme.test');
    const views = await Promise.all([ids.admin, ids.admin2].map((id) => call('GET', `/api/t/acme/users/${id}`, { token })));
    expect(views.filter((v) => v.status === 200 && v.json.disabled === false && v.json.roles.includes('admin'))).toHaveLength(1);
    T[winner] = token;
    // Put the loser back for the next tests.
    const loser = winner === 'acme-admin' ? ids.admin2 : ids.admin;
    expect((await call('PATCH', `/api/t/acme/users/${loser}`, { token, body: { disabled: false } })).status).toBe(200);
    T['acme-admin'] = await login('acme', 'admin@acme.test');
    T.admin2 = await login('acme', 'admin2@acme.test');
  });

  it("the users endpoints refuse no token, another tenant's token and a wrong role", async () => {
    const path = `/api/t/acme/users/${ids.admin2}`;
    expectProblem(await call('PATCH', path, { body: { disabled: true } }), 401);
    expectProblem(await call('PATCH', path, { token: T['globex-admin'], body: { disabled: true } }), 401);
    expectProblem(await call('PATCH', path, { token: T.editor, body: { disabled: true } }), 403);
    expect((await call('GET', path, { token: T['acme-admin'] })).json).toMatchObject({ disabled: false, roles: ['admin'] });
  });
});

describe("a viewer's audit pages", () => {
  it('hold only record and type rows, full pages, and their tokens show no stream ids', async () => {
    const put = await call('PUT', '/api/t/acme/types/note', {
      token: T['acme-admin'],
      body: { type: 'object', properties: { text: { type: 'string' } } },
    });
    expect(put.status, put.text).toBe(201);
    for (let i = 0; i < 3; i++)
      expect((await call('POST', '/api/t/acme/records/note', { token: T.editor, body: { text: `n${i}` } })).status).toBe(201);
    // Identity rows newer than every record row.
    for (let i = 0; i < 3; i++)
      expect(
        (
          await call('POST', '/api/t/acme/users', {
            token: T['acme-admin'],
            body: { email: `late${i}@acme.test`, password: PW, roles: ['viewer'] },
          })
        ).status,
      ).toBe(201);
    // The projector runs on a 2 s timer: wait until the admin sees the last user row.
    for (let i = 0; i < 50; i++) {
      const a = await call('GET', '/api/t/acme/audit?limit=1', { token: T['acme-admin'] });
      if (a.json.items[0]?.eventType === 'UserCreated' && JSON.stringify(a.json.items[0]).includes('late2@acme.test')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const admin = await call('GET', '/api/t/acme/audit?limit=3', { token: T['acme-admin'] });
    expect(admin.json.items.every((e: { recordType?: string }) => e.recordType === undefined)).toBe(true);

    let continuation: string | undefined;
    let pages = 0;
    const tokens: string[] = [];
    do {
      const r = await call('GET', `/api/t/acme/audit?limit=2${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`, {
        token: T.viewer,
      });
      expect(r.status, r.text).toBe(200);
      const items = r.json.items as Array<{ recordType?: string; streamId: string }>;
      expect(items.every((e) => e.recordType !== undefined && !e.streamId.startsWith('user-') && e.streamId !== 'tenant')).toBe(true);
      continuation = r.json.continuation;
      if (continuation) {
        expect(items).toHaveLength(2);
        tokens.push(continuation);
      }
      pages++;
    } while (continuation && pages < 50);
    expect(tokens.length).toBeGreaterThan(0);
    // The token is a compact JWE: its header is readable, the rest is ciphertext. No segment, raw
    // or decoded, may carry a stream id. Checked against the ids this test actually created: a
    // pattern such as u_ + 22 base64url characters also matches random ciphertext by chance
    // (about 1 token in 16), which made this test flaky in CI.
    const known = Object.values(ids);
    for (const t of tokens) {
      for (const seg of t.split('.')) {
        const decoded = Buffer.from(seg, 'base64url').toString('latin1');
        for (const s of [seg, decoded]) {
          expect(s).not.toMatch(/user-|rec:/);
          for (const id of known) expect(s).not.toContain(id);
        }
      }
    }
    expectProblem(await call('GET', '/api/t/acme/audit', {}), 401);
    expectProblem(await call('GET', '/api/t/acme/audit', { token: T['globex-admin'] }), 401);
  });
});
