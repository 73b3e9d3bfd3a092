/**
 * The cast most end-to-end suites start from, created through the public API of a running host:
 * tenants (by default acme and globex, each with its first admin `admin@<tenant>.test`) and
 * users of the first tenant with the given roles (`<name>@<tenant>.test`). Every step is
 * asserted, so a suite fails at the step that broke, not later with a missing token.
 */
import { expect } from 'vitest';
import type { CallOptions, CallResult } from './http-client';

type Call = (method: string, path: string, opts?: CallOptions) => Promise<CallResult>;

/** The password every seeded account has. */
export const E2E_PASSWORD = 'correct horse battery';

/** Signs in; the access token. */
export async function loginAs(call: Call, tenant: string, email: string, password = E2E_PASSWORD): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token as string;
}

/** Creates `tenant` with the operator key, its first admin `admin@<tenant>.test` with `password`. */
export async function createTenantAs(call: Call, operatorKey: string, tenant: string, password = E2E_PASSWORD): Promise<void> {
  const r = await call('POST', '/api/tenants', {
    token: operatorKey,
    body: { id: tenant, name: tenant, admin: { email: `admin@${tenant}.test`, password } },
  });
  expect(r.status, r.text).toBe(201);
}

export interface Cast {
  /** Tenants to create, in order; users are created in the first. Default acme, globex. */
  tenants?: string[];
  /** Users of the first tenant: [name, role]; their tokens are keyed by name. */
  users?: ReadonlyArray<readonly [string, string]>;
}

/**
 * Creates the cast with the operator key and fills `tokens`: `<tenant>-admin` for every
 * tenant's admin, and `<name>` for every user.
 */
export async function seedTenants(call: Call, operatorKey: string, tokens: Record<string, string>, cast: Cast = {}): Promise<void> {
  const tenants = cast.tenants ?? ['acme', 'globex'];
  for (const t of tenants) {
    const r = await call('POST', '/api/tenants', {
      token: operatorKey,
      body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: E2E_PASSWORD } },
    });
    expect(r.status, r.text).toBe(201);
    tokens[`${t}-admin`] = await loginAs(call, t, `admin@${t}.test`);
  }
  const home = tenants[0]!;
  for (const [name, role] of cast.users ?? []) {
    const r = await call('POST', `/api/t/${home}/users`, {
      token: tokens[`${home}-admin`],
      body: { email: `${name}@${home}.test`, password: E2E_PASSWORD, roles: [role] },
    });
    expect(r.status, r.text).toBe(201);
    tokens[name] = await loginAs(call, home, `${name}@${home}.test`);
  }
}
