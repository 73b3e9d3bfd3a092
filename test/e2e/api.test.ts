import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';

let host: HostProcess;
const PW = 'correct horse battery';

const call = client(() => host.url);

function expectProblem(r: { status: number; headers: Headers; json: any }, status: number) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
}

const op = () => host.operatorKey;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

async function login(tenant: string, email: string, password = PW): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

beforeAll(async () => {
  host = await startHostProcess();
  for (const t of ['acme', 'globex']) {
    const r = await call('POST', '/api/tenants', {
      token: op(),
      body: { id: t, name: `${t} Ltd`, admin: { email: `admin@${t}.test`, password: PW } },
    });
    expect(r.status, r.text).toBe(201);
    tokens[`${t}-admin`] = await login(t, `admin@${t}.test`);
  }
  for (const role of ['editor', 'viewer'] as const) {
    const r = await call('POST', '/api/t/acme/users', {
      token: tokens['acme-admin'],
      body: { email: `${role}@acme.test`, password: PW, roles: [role] },
    });
    expect(r.status, r.text).toBe(201);
    ids[role] = r.json.userId;
    tokens[`acme-${role}`] = await login('acme', `${role}@acme.test`);
  }
});

afterAll(async () => {
  const code = await host?.stop();
  host?.cleanup();
  expect(code).toBe(0);
});

/** The host's first output line containing `text`, polled for (lines reach the pipe after the answer). */
async function logLineWith(text: string): Promise<string> {
  const find = () =>
    host
      .output()
      .split('\n')
      .find((l) => l.includes(text));
  await expect.poll(find, { timeout: 10_000, message: `no host line with ${text}` }).toBeDefined();
  return find()!;
}

describe('local host', () => {
  it('prints every registered function like func start does', () => {
    const out = host.output();
    for (const line of [
      'createTenant: [POST]',
      'getTenant: [GET]',
      'issueToken: [POST]',
      'createUser: [POST]',
      'updateUser: [PATCH]',
      'getUserHistory: [GET]',
    ]) {
      expect(out).toContain(line);
    }
    expect(out).toContain('/api/t/{tenant}/users/{userId}');
  });

  it('answers unknown paths and methods with problem+json', async () => {
    expectProblem(await call('GET', '/api/nope'), 404);
    expectProblem(await call('DELETE', '/api/tenants'), 405);
  });

  it('health answers 200 with its checks and no details', async () => {
    const r = await call('GET', '/api/health');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      status: 'ok',
      checks: {
        config: { ok: true, ms: expect.any(Number) },
        stores: { ok: true, ms: expect.any(Number) },
        resources: { ok: true, ms: expect.any(Number) },
      },
    });
  });

  it('echoes a correlation id on every response and logs one structured line per request, without secrets', async () => {
    const r = await call('GET', '/api/tenants/acme?probe=1', { token: op(), headers: { 'x-correlation-id': 'abc-123' } });
    expect(r.headers.get('x-correlation-id')).toBe('abc-123');
    // Host log lines are written a loop turn after the answer (host/start.ts): poll for it.
    const line = await logLineWith('"correlationId":"abc-123"');
    const entry = JSON.parse(line.slice(line.indexOf('{')));
    expect(entry).toMatchObject({ event: 'http', fn: 'getTenant', method: 'GET', path: '/api/tenants/acme', status: 200, tenant: 'acme' });
    expect(host.output()).not.toContain(op());
  });

  it('health and the API documents go through the same edge: correlation id, nosniff, one structured line', async () => {
    for (const [path, fn] of [
      ['/api/health', 'health'],
      ['/api/openapi.json', 'openApi'],
      ['/api/docs', 'apiDocs'],
    ] as const) {
      const id = `edge-${fn}`;
      const r = await call('GET', path, { headers: { 'x-correlation-id': id } });
      expect(r.status, path).toBe(200);
      expect(r.headers.get('x-correlation-id')).toBe(id);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      const line = await logLineWith(`"correlationId":"${id}"`);
      expect(JSON.parse(line.slice(line.indexOf('{')))).toMatchObject({ event: 'http', fn, method: 'GET', path, status: 200 });
    }
  });
});

describe('tenants (operator)', () => {
  it('creates a tenant with its admin and reports status only', async () => {
    const r = await call('GET', '/api/tenants/acme', { token: op() });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['createdAt', 'files', 'id', 'status']);
    expect(r.json).toMatchObject({ id: 'acme', status: 'ready' });
    // The start-up check of stored files: counts only, never which files.
    expect(Object.keys(r.json.files).sort()).toEqual(['attached', 'checkedAt', 'missing']);
  });

  it('refuses an existing id with 409 and leaves the tenant intact', async () => {
    const r = await call('POST', '/api/tenants', {
      token: op(),
      body: { id: 'acme', name: 'Other', admin: { email: 'x@y.test', password: PW } },
    });
    expectProblem(r, 409);
    expect(await login('acme', 'admin@acme.test')).toBeTruthy();
    expect((await call('POST', '/api/t/acme/auth/token', { body: { email: 'x@y.test', password: PW } })).status).toBe(401);
  });

  it('validates ids and bodies with a list of failing paths', async () => {
    for (const id of ['ab', 'Acme', '-acme', 'acme-', 'ac--me', 'a'.repeat(41), 'acme_1', '../etc']) {
      const r = await call('POST', '/api/tenants', { token: op(), body: { id, name: 'N', admin: { email: 'a@b.test', password: PW } } });
      expectProblem(r, 400);
      expect(r.json.errors[0].path).toBe('/id');
    }
    const r = await call('POST', '/api/tenants', {
      token: op(),
      body: { id: 'ok-id', admin: { email: 'nope', password: 'short' }, extra: 1 },
    });
    expectProblem(r, 400);
    const paths = r.json.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['/name', '/admin/email', '/admin/password', '']));
    expectProblem(await call('GET', '/api/tenants/ok-id', { token: op() }), 404);
  });

  it('unknown tenant → 404', async () => {
    expectProblem(await call('GET', '/api/tenants/nobody-here', { token: op() }), 404);
  });
});

describe('identity inside a tenant', () => {
  it('login answers the same for a wrong password and an unknown email', async () => {
    const a = await call('POST', '/api/t/acme/auth/token', { body: { email: 'admin@acme.test', password: 'wrong password!' } });
    const b = await call('POST', '/api/t/acme/auth/token', { body: { email: 'ghost@acme.test', password: 'wrong password!' } });
    const c = await call('POST', '/api/t/no-such-tenant/auth/token', { body: { email: 'admin@acme.test', password: PW } });
    for (const r of [a, b, c]) expectProblem(r, 401);
    expect(a.json.detail).toBe(b.json.detail);
    expect(a.json.detail).toBe(c.json.detail);
  });

  it('a token of one tenant is rejected by another tenant', async () => {
    const r = await call('GET', `/api/t/globex/users/${ids.editor}`, { token: tokens['acme-admin'] });
    expectProblem(r, 401);
    // Even with the claims rewritten to name globex, the signature (globex's own key) fails.
    const [h, p, s] = tokens['acme-admin']!.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.tid = 'globex';
    claims.iss = claims.aud = 'urn:tenant-ledger:tenant:globex';
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    expectProblem(
      await call('POST', '/api/t/globex/users', { token: forged, body: { email: 'x@globex.test', password: PW, roles: ['viewer'] } }),
      401,
    );
  });

  it('roles: admin manages users; editor and viewer may not', async () => {
    for (const who of ['acme-editor', 'acme-viewer']) {
      expectProblem(
        await call('POST', '/api/t/acme/users', {
          token: tokens[who],
          body: { email: `new-${who}@acme.test`, password: PW, roles: ['viewer'] },
        }),
        403,
      );
    }
    // a user may read themselves
    const me = await call('GET', `/api/t/acme/users/${ids.viewer}`, { token: tokens['acme-viewer'] });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ email: 'viewer@acme.test', roles: ['viewer'], disabled: false });
    expect(me.json).not.toHaveProperty('passwordHash');
  });

  it('an admin finds a user by email (any case); others cannot; bad or unknown emails are clear errors', async () => {
    const r = await call('GET', '/api/t/acme/users?email=EDITOR%40Acme.test', { token: tokens['acme-admin'] });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ userId: ids.editor, email: 'editor@acme.test', roles: ['editor'] });
    expect(r.headers.get('etag')).toBe(`"${r.json.version}"`);
    expect(r.headers.get('content-location')).toBe(`/api/t/acme/users/${ids.editor}`);
    expectProblem(await call('GET', '/api/t/acme/users?email=nobody%40acme.test', { token: tokens['acme-admin'] }), 404);
    for (const q of ['?email=', '?email=not-an-email', '?email=editor%40acme.test&limit=5', '?email=editor%40acme.test&continuation=x']) {
      const bad = await call('GET', `/api/t/acme/users${q}`, { token: tokens['acme-admin'] });
      expectProblem(bad, 400);
      expect(bad.json.errors[0].path).toBe('email');
    }
    // A user of the same email in another tenant is not found through this tenant, and vice versa.
    expectProblem(await call('GET', '/api/t/globex/users?email=editor%40acme.test', { token: tokens['globex-admin'] }), 404);
    expectProblem(await call('GET', '/api/t/acme/users?email=editor%40acme.test', { token: tokens['acme-editor'] }), 403);
  });

  it("an admin lists the tenant's users a page at a time: every user once, no password hash or secret, only this tenant's", async () => {
    // More users than a page, one created just now (the list reads the log: no projection lag).
    const extra: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', '/api/t/acme/users', {
        token: tokens['acme-admin'],
        body: { email: `list-${i}@acme.test`, password: PW, roles: ['viewer'], displayName: `List ${i}` },
      });
      expect(r.status, r.text).toBe(201);
      extra.push(r.json.userId);
    }
    const seen: any[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const r = await call('GET', `/api/t/acme/users?limit=2${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`, {
        token: tokens['acme-admin'],
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.json.items);
      continuation = r.json.continuation;
      pages++;
    } while (continuation && pages < 20);
    expect(continuation).toBeUndefined();
    const emails = seen.map((u) => u.email).sort();
    // (other tests in this file may have added users of their own: these are the ones that must be there)
    for (const e of ['admin@acme.test', 'editor@acme.test', 'viewer@acme.test', 'list-0@acme.test', 'list-1@acme.test', 'list-2@acme.test'])
      expect(emails).toContain(e);
    expect(new Set(seen.map((u) => u.userId)).size).toBe(seen.length);
    expect(emails.some((e) => e.endsWith('@globex.test'))).toBe(false);
    for (const u of seen) expect(Object.keys(u).sort()).toEqual(['disabled', 'displayName', 'email', 'roles', 'userId', 'version']);
    // the whole answer carries nothing of the password or the tenant's secrets
    const all = await call('GET', '/api/t/acme/users?limit=200', { token: tokens['acme-admin'] });
    expect(all.json.continuation).toBeUndefined();
    expect(all.json.items.length).toBe(seen.length);
    expect(all.text).not.toMatch(/password|hash|scrypt|salt|secret/i);
    expect(all.json.items.find((u: any) => u.userId === extra[1])).toEqual({
      userId: extra[1],
      email: 'list-1@acme.test',
      displayName: 'List 1',
      roles: ['viewer'],
      disabled: false,
      version: 1,
    });
    // default page size, and the other tenant sees only its own
    const def = await call('GET', '/api/t/acme/users', { token: tokens['acme-admin'] });
    expect(def.status).toBe(200);
    const globex = await call('GET', '/api/t/globex/users', { token: tokens['globex-admin'] });
    expect(globex.json.items.map((u: any) => u.email)).toEqual(['admin@globex.test']);
  });

  it('the user list refuses other tenants, no token, non-admins and malformed paging', async () => {
    expectProblem(await call('GET', '/api/t/acme/users'), 401);
    expectProblem(await call('GET', '/api/t/acme/users', { token: 'not.a.token' }), 401);
    expectProblem(await call('GET', '/api/t/acme/users', { token: tokens['globex-admin'] }), 401);
    for (const role of ['editor', 'viewer']) expectProblem(await call('GET', '/api/t/acme/users', { token: tokens[`acme-${role}`] }), 403);
    for (const limit of ['0', '-1', '201', '1.5', 'ten', '']) {
      const r = await call('GET', `/api/t/acme/users?limit=${limit}`, { token: tokens['acme-admin'] });
      expectProblem(r, 400);
    }
    // a continuation that was changed, made up, or sealed by another tenant
    const page = await call('GET', '/api/t/acme/users?limit=1', { token: tokens['acme-admin'] });
    const token = page.json.continuation as string;
    expect(token).toEqual(expect.any(String));
    const globexPage = await call('GET', '/api/t/globex/users?limit=1', { token: tokens['globex-admin'] });
    expect(globexPage.json.continuation).toBeUndefined();
    const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    for (const c of [tampered, 'garbage', 'user-u_x', '%00', 'a'.repeat(2000)]) {
      const r = await call('GET', `/api/t/acme/users?continuation=${encodeURIComponent(c)}`, { token: tokens['acme-admin'] });
      expectProblem(r, 400);
      expect(r.json.errors[0].path).toBe('continuation');
    }
    const elsewhere = await call('GET', `/api/t/globex/users?continuation=${encodeURIComponent(token)}`, { token: tokens['globex-admin'] });
    expectProblem(elsewhere, 400);
    // the same token of this list still works
    expect(
      (await call('GET', `/api/t/acme/users?limit=1&continuation=${encodeURIComponent(token)}`, { token: tokens['acme-admin'] })).status,
    ).toBe(200);
  });

  it('creating a user twice with the same email → 409, nothing appended', async () => {
    const r = await call('POST', '/api/t/acme/users', {
      token: tokens['acme-admin'],
      body: { email: 'EDITOR@acme.test', password: PW, roles: ['admin'] },
    });
    expectProblem(r, 409);
    const u = await call('GET', `/api/t/acme/users/${ids.editor}`, { token: tokens['acme-admin'] });
    expect(u.json).toMatchObject({ roles: ['editor'], version: 1 });
  });

  it('role changes are audited with who, when, old and new; If-Match guards them', async () => {
    const created = await call('POST', '/api/t/acme/users', {
      token: tokens['acme-admin'],
      body: { email: 'carol@acme.test', password: PW, roles: ['viewer'] },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    const id = created.json.userId as string;
    const changed = await call('PATCH', `/api/t/acme/users/${id}`, {
      token: tokens['acme-admin'],
      body: { roles: ['editor', 'viewer'] },
      headers: { 'if-match': '"1"' },
    });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.json).toMatchObject({ roles: ['editor', 'viewer'], version: 2 });
    expect(changed.headers.get('etag')).toBe('"2"');
    expectProblem(
      await call('PATCH', `/api/t/acme/users/${id}`, {
        token: tokens['acme-admin'],
        body: { roles: ['admin'] },
        headers: { 'if-match': '"1"' },
      }),
      412,
    );
    const same = await call('PATCH', `/api/t/acme/users/${id}`, { token: tokens['acme-admin'], body: { roles: ['viewer', 'editor'] } });
    expect(same.json.version).toBe(2);
    const h = await call('GET', `/api/t/acme/users/${id}/history`, { token: tokens['acme-admin'] });
    expect(h.status).toBe(200);
    expect(h.json.items).toHaveLength(2);
    const change = h.json.items[1];
    expect(change.author).toMatchObject({ kind: 'user', email: 'admin@acme.test' });
    expect(change.timestamp).toMatch(/Z$/);
    expect(change.events).toEqual([{ type: 'UserRolesChanged', data: { userId: id, old: ['viewer'], new: ['editor', 'viewer'] } }]);
    expect(h.text).not.toContain('scrypt$');
    expect(h.json.items[0].author).toMatchObject({ kind: 'user' });
  });

  it('a disabled user cannot sign in and their existing tokens stop working', async () => {
    await call('POST', '/api/t/acme/users', {
      token: tokens['acme-admin'],
      body: { email: 'dave@acme.test', password: PW, roles: ['viewer'] },
    });
    const t = await login('acme', 'dave@acme.test');
    const id = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).sub as string;
    expect((await call('GET', `/api/t/acme/users/${id}`, { token: t })).status).toBe(200);
    const d = await call('PATCH', `/api/t/acme/users/${id}`, { token: tokens['acme-admin'], body: { disabled: true } });
    expect(d.json.disabled).toBe(true);
    expectProblem(await call('GET', `/api/t/acme/users/${id}`, { token: t }), 401);
    expectProblem(await call('POST', '/api/t/acme/auth/token', { body: { email: 'dave@acme.test', password: PW } }), 401);
    await call('PATCH', `/api/t/acme/users/${id}`, { token: tokens['acme-admin'], body: { disabled: false } });
    expectProblem(await call('GET', `/api/t/acme/users/${id}`, { token: t }), 401); // old token stays dead
    expect(await login('acme', 'dave@acme.test')).toBeTruthy();
  });

  it('an admin cannot lock themselves out', async () => {
    const id = JSON.parse(Buffer.from(tokens['acme-admin']!.split('.')[1]!, 'base64url').toString()).sub as string;
    expectProblem(await call('PATCH', `/api/t/acme/users/${id}`, { token: tokens['acme-admin'], body: { disabled: true } }), 422);
    expectProblem(await call('PATCH', `/api/t/acme/users/${id}`, { token: tokens['acme-admin'], body: { roles: ['viewer'] } }), 422);
  });

  it('repeated failed logins slow down with 429 + Retry-After, for real and unknown emails alike', async () => {
    for (const email of ['editor@acme.test', 'nobody@acme.test']) {
      let limited: Awaited<ReturnType<typeof call>> | undefined;
      for (let i = 0; i < 8 && !limited; i++) {
        const r = await call('POST', '/api/t/acme/auth/token', { body: { email, password: 'not the password' } });
        if (r.status === 429) limited = r;
        else expectProblem(r, 401);
      }
      expect(limited, email).toBeDefined();
      expectProblem(limited!, 429);
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
      // Even the right password is refused while locked.
      expect((await call('POST', '/api/t/acme/auth/token', { body: { email, password: PW } })).status).toBe(429);
    }
  });
});

describe('every endpoint rejects bad callers and bad input, and writes nothing', () => {
  type Auth = 'operator' | 'admin' | 'public';
  interface Endpoint {
    name: string;
    method: string;
    path: () => string;
    auth: Auth;
    body?: () => unknown;
  }
  const endpoints: Endpoint[] = [
    {
      name: 'createTenant',
      method: 'POST',
      path: () => '/api/tenants',
      auth: 'operator',
      body: () => ({ id: 'never-made', name: 'N', admin: { email: 'a@never.test', password: PW } }),
    },
    { name: 'getTenant', method: 'GET', path: () => '/api/tenants/acme', auth: 'operator' },
    {
      name: 'issueToken',
      method: 'POST',
      path: () => '/api/t/acme/auth/token',
      auth: 'public',
      body: () => ({ email: 'admin@acme.test', password: PW }),
    },
    {
      name: 'createUser',
      method: 'POST',
      path: () => '/api/t/acme/users',
      auth: 'admin',
      body: () => ({ email: 'never@acme.test', password: PW, roles: ['admin'] }),
    },
    { name: 'findUser', method: 'GET', path: () => '/api/t/acme/users?email=editor%40acme.test', auth: 'admin' },
    { name: 'findUser (list)', method: 'GET', path: () => '/api/t/acme/users?limit=10', auth: 'admin' },
    { name: 'getUser', method: 'GET', path: () => `/api/t/acme/users/${ids.editor}`, auth: 'admin' },
    {
      name: 'updateUser',
      method: 'PATCH',
      path: () => `/api/t/acme/users/${ids.editor}`,
      auth: 'admin',
      body: () => ({ roles: ['admin'] }),
    },
    { name: 'getUserHistory', method: 'GET', path: () => `/api/t/acme/users/${ids.editor}/history`, auth: 'admin' },
  ];

  for (const ep of endpoints) {
    describe(ep.name, () => {
      if (ep.auth !== 'public')
        it('no token → 401', async () => {
          expectProblem(await call(ep.method, ep.path(), { ...(ep.body ? { body: ep.body() } : {}) }), 401);
        });
      if (ep.auth !== 'public')
        it('garbage token → 401', async () => {
          expectProblem(await call(ep.method, ep.path(), { token: 'not.a.token', ...(ep.body ? { body: ep.body() } : {}) }), 401);
        });
      if (ep.auth !== 'public')
        it("another tenant's token → 401", async () => {
          expectProblem(await call(ep.method, ep.path(), { token: tokens['globex-admin'], ...(ep.body ? { body: ep.body() } : {}) }), 401);
        });
      if (ep.auth !== 'public')
        it('wrong role → 403 (operator endpoints: a user token → 401)', async () => {
          const r = await call(ep.method, ep.path(), {
            token: tokens[ep.auth === 'operator' ? 'acme-admin' : 'acme-viewer'],
            ...(ep.body ? { body: ep.body() } : {}),
          });
          expectProblem(r, ep.auth === 'operator' ? 401 : 403);
        });
      if (ep.body)
        it('malformed JSON → 400', async () => {
          expectProblem(await call(ep.method, ep.path(), { token: token(ep.auth), raw: '{"email": ' }), 400);
        });
      if (ep.body)
        it('wrong content type → 415', async () => {
          expectProblem(
            await call(ep.method, ep.path(), { token: token(ep.auth), raw: JSON.stringify(ep.body?.()), contentType: 'text/plain' }),
            415,
          );
        });
      if (ep.body)
        it('oversized body → 413', async () => {
          const big = JSON.stringify({ ...(ep.body?.() as object), padding: 'x'.repeat(70_000) });
          expectProblem(await call(ep.method, ep.path(), { token: token(ep.auth), raw: big }), 413);
        });
      if (ep.body)
        it('schema violation → 400 with paths', async () => {
          const r = await call(ep.method, ep.path(), { token: token(ep.auth), body: { unexpected: true } });
          expectProblem(r, 400);
          expect(r.json.errors.length).toBeGreaterThan(0);
        });
    });
  }

  function token(auth: Auth): string | undefined {
    return auth === 'operator' ? op() : auth === 'admin' ? tokens['acme-admin'] : undefined;
  }

  afterAll(async () => {
    // Nothing of the rejected requests was written.
    expectProblem(await call('GET', '/api/tenants/never-made', { token: op() }), 404);
    const editor = await call('GET', `/api/t/acme/users/${ids.editor}`, { token: tokens['acme-admin'] });
    expect(editor.json).toMatchObject({ roles: ['editor'], version: 1 });
    expect((await call('POST', '/api/t/acme/auth/token', { body: { email: 'never@acme.test', password: PW } })).status).toBe(401);
  });
});

describe('operators list, suspend and resume tenants', () => {
  it('lists statuses only; a suspended tenant cannot sign in and its tokens stop working; resume restores it', async () => {
    const list = await call('GET', '/api/tenants', { token: op() });
    expect(list.status).toBe(200);
    const acme = list.json.items.find((t: { id: string }) => t.id === 'acme');
    expect(Object.keys(acme).sort()).toEqual(['createdAt', 'id', 'status']);
    expectProblem(await call('GET', '/api/tenants', { token: tokens['acme-admin'] }), 401);
    const before = await login('globex', 'admin@globex.test');
    const s = await call('POST', '/api/tenants/globex/suspend', { token: op() });
    expect(s.json).toMatchObject({ id: 'globex', status: 'suspended' });
    expectProblem(await call('POST', '/api/t/globex/auth/token', { body: { email: 'admin@globex.test', password: PW } }), 401);
    expectProblem(
      await call('POST', '/api/t/globex/users', { token: before, body: { email: 'z@globex.test', password: PW, roles: ['viewer'] } }),
      401,
    );
    expect((await call('GET', '/api/tenants/globex', { token: op() })).json.status).toBe('suspended');
    expectProblem(await call('POST', '/api/tenants/globex/suspend', { token: tokens['acme-admin'] }), 401);
    const r = await call('POST', '/api/tenants/globex/resume', { token: op() });
    expect(r.json.status).toBe('ready');
    tokens['globex-admin'] = await login('globex', 'admin@globex.test');
    expectProblem(await call('POST', '/api/tenants/nobody-here/suspend', { token: op() }), 404);
  });
});
