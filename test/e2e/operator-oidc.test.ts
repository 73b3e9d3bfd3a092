import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer';

const AUD = 'api://tenant-ledger';
let issuer: LocalIssuer;
let host: HostProcess;

beforeAll(async () => {
  issuer = await startLocalIssuer({ audience: AUD });
  host = await startHostProcess({
    OPERATOR_AUTH: 'oidc',
    OPERATOR_OIDC_ISSUER: issuer.issuer,
    OPERATOR_OIDC_AUDIENCE: AUD,
    OPERATOR_OIDC_ROLE: 'Tenants.Operate',
    OPERATOR_KEY: 'x'.repeat(40), // ignored in oidc mode
  });
});
afterAll(async () => {
  await host?.stop();
  host?.cleanup();
  await issuer?.close();
});

const createTenant = (token: string, id: string) =>
  fetch(`${host.url}/api/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } }),
  });

it('operator endpoints accept Entra-style tokens carrying the app role, verified against the JWKS', async () => {
  const token = await issuer.sign({ sub: 'op-1', oid: 'oid-1', roles: ['Tenants.Operate'] });
  const r = await createTenant(token, 'oidc-made');
  expect(r.status, await r.clone().text()).toBe(201);
  const s = await fetch(`${host.url}/api/tenants/oidc-made`, { headers: { authorization: `Bearer ${token}` } });
  expect(s.status).toBe(200);
});

it('a token without the role → 403; wrong audience, expired or the static key → 401; nothing created', async () => {
  const noRole = await issuer.sign({ sub: 'op-2', roles: ['Something.Else'] });
  expect((await createTenant(noRole, 'not-made-1')).status).toBe(403);
  const wrongAud = await issuer.sign({ sub: 'op-3', roles: ['Tenants.Operate'] }, { aud: 'api://other' });
  expect((await createTenant(wrongAud, 'not-made-2')).status).toBe(401);
  const expired = await issuer.sign({ sub: 'op-4', roles: ['Tenants.Operate'] }, { exp: Math.floor(Date.now() / 1000) - 3600 });
  expect((await createTenant(expired, 'not-made-3')).status).toBe(401);
  expect((await createTenant('x'.repeat(40), 'not-made-4')).status).toBe(401);
  const ok = await issuer.sign({ sub: 'op-1', roles: ['Tenants.Operate'] });
  for (const id of ['not-made-1', 'not-made-2', 'not-made-3', 'not-made-4']) {
    expect((await fetch(`${host.url}/api/tenants/${id}`, { headers: { authorization: `Bearer ${ok}` } })).status).toBe(404);
  }
});
