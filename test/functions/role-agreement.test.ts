/**
 * The role each operation needs is declared once, in the operations table (functions/operations.ts,
 * `caller.role`), and enforced twice: by the table's `http()` wrapper before the handler runs,
 * and by the use case itself (defence in depth). This test holds the two to the table: for
 * every tenant operation, its named handler is called directly (past the wrapper) with
 * - a principal one role below the declared one: the use case must refuse it (403 forbidden);
 * - a principal with exactly the declared role: the use case must not refuse it for its role
 *   (it may still answer 400/404/422 for the test's placeholder input).
 * The wrapper itself (no token, another tenant's token, a role below) is covered over HTTP by
 * the end-to-end suites (e.g. test/e2e/files.test.ts "every file endpoint").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as auth from '../../functions/auth';
import * as changes from '../../functions/changes';
import * as erasure from '../../functions/erasure';
import * as files from '../../functions/files';
import { type OperationName, operations } from '../../functions/operations';
import * as projections from '../../functions/projections';
import * as records from '../../functions/records';
import * as revert from '../../functions/revert';
import * as tenantViews from '../../functions/tenant-views';
import * as types from '../../functions/types';
import * as users from '../../functions/users';
import * as webhooks from '../../functions/webhooks';
import type { UserPrincipal } from '../../shared/app/service';
import { loadConfig } from '../../shared/config';
import { createServices, type Services } from '../../shared/config/services';
import { isAppError } from '../../shared/domain/errors';
import type { Role } from '../../shared/domain/identity';

const PW = 'a long enough password';
const req = { correlationId: 'role-agreement' };
const modules = [auth, changes, erasure, files, projections, records, revert, tenantViews, types, users, webhooks];
const handlerOf = (name: string): ((ctx: unknown) => Promise<unknown>) | undefined => {
  for (const m of modules) {
    const f = (m as Record<string, unknown>)[name];
    if (typeof f === 'function') return f as (ctx: unknown) => Promise<unknown>;
  }
  return undefined;
};

/** One role below: what must be refused. A viewer operation is refused to a user with no role. */
const below: Record<Role, Role[]> = { viewer: [], editor: ['viewer'], admin: ['editor'] };

/** Bodies that get each handler past its own input parsing to the use case. */
const bodies: Partial<Record<OperationName, unknown>> = {
  createUser: { email: 'new@acme.test', password: PW, roles: ['viewer'] },
  updateUser: { roles: ['editor'] },
  putType: { type: 'object' },
  createRecord: { title: 'x' },
  patchRecord: { title: 'y' },
  revertRecord: { asOf: '2020-01-01T00:00:00Z', reason: 'role agreement' },
  revertTenant: { asOf: '2020-01-01T00:00:00Z', reason: 'role agreement', dryRun: true },
  createSubscription: { url: 'https://hooks.example.test/in' },
  updateSubscription: { status: 'paused' },
  replaySubscription: { from: 'not-a-position' },
};

const tenantOps = (Object.keys(operations) as OperationName[]).filter((n) => operations[n].caller.auth === 'tenant');

describe('every tenant operation: the role the table declares is the role its use case enforces', () => {
  let dir: string;
  let s: Services;
  let admin: UserPrincipal;
  let recordId: string;
  let fileId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roles-'));
    s = await createServices(loadConfig({ DATA_DIR: dir, LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14' }));
    await s.tenants.createTenant({ id: 'op' }, { id: 'acme', name: 'Acme', admin: { email: 'admin@acme.test', password: PW } }, req);
    admin = await s.tenants.authenticate(
      'acme',
      `Bearer ${(await s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW })).access_token}`,
    );
    await s.records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
    recordId = (await s.records.createRecord(admin, { type: 'doc', data: { title: 'seed' } }, req)).record.id;
    const body = (async function* () {
      yield Buffer.from('hello');
    })();
    fileId = (await s.files.upload(admin, { type: 'doc', id: recordId, name: 'a.txt', contentType: 'text/plain', body }, req)).file.fileId;
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  /** Runs the handler as the wrapper would (progress work and streamed bodies included); the error code, or 'ok'. */
  async function outcome(name: OperationName, roles: Role[]): Promise<string> {
    const fn = handlerOf(name);
    if (!fn) throw new Error(`no handler exported as ${name}`);
    const spec = operations[name];
    const params: Record<string, string> = {
      tenant: 'acme',
      type: 'doc',
      id: recordId,
      fileId,
      userId: admin.userId,
      subjectId: 's1',
      subscriptionId: 'sub_none',
    };
    const path = spec.route.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? k));
    const principal: UserPrincipal = { ...admin, roles };
    const upload = name === 'uploadFile' || name === 'replaceFile';
    const ctx = {
      req: new HttpRequest({
        method: spec.methods[0]!,
        url: `http://localhost/api/${path}${name === 'findUser' ? '?email=admin%40acme.test' : ''}`,
        params,
        headers: upload ? { 'x-file-name': 'b.txt', 'content-type': 'text/plain' } : {},
        ...(upload ? { body: { bytes: new Uint8Array(Buffer.from('bytes')) } } : {}),
      }),
      context: new InvocationContext({ functionName: name }),
      services: s,
      correlationId: req.correlationId,
      principal,
      body: async () => bodies[name] ?? {},
    };
    try {
      const answer = (await fn(ctx)) as { progress?: (report: () => void) => Promise<unknown>; body?: unknown };
      const reply = (answer.progress ? await answer.progress(() => undefined) : answer) as { body?: unknown };
      const b = reply.body as AsyncIterable<unknown> | undefined;
      if (b && typeof b === 'object' && Symbol.asyncIterator in b) for await (const _ of b) void _;
      return 'ok';
    } catch (e) {
      if (isAppError(e)) return e.code;
      throw e;
    }
  }

  it('covers every tenant operation of the table with a named handler', () => {
    expect(tenantOps.length).toBeGreaterThan(20);
    expect(tenantOps.filter((n) => !handlerOf(n))).toEqual([]);
  });

  for (const name of tenantOps) {
    const caller = operations[name].caller as { auth: 'tenant'; role: Role; who?: string };
    it(`${name}: declared ${caller.role}; one role below is refused by the use case, the declared role is not`, async () => {
      // getUser: any user may read themselves (the table's `who`); another user needs admin.
      const asBelow = name === 'getUser' ? await outcomeOnOther(['editor']) : await outcome(name, below[caller.role]);
      expect(asBelow).toBe('forbidden');
      const asDeclared = await outcome(name, [caller.role]);
      expect(['forbidden', 'unauthenticated']).not.toContain(asDeclared);
    });
  }

  /** getUser for another user than the principal (the admin), as a non-admin. */
  async function outcomeOnOther(roles: Role[]): Promise<string> {
    const other = await s.tenants.createUser(admin, { email: `other-${roles.join('')}@acme.test`, password: PW, roles }, req);
    const p = await s.tenants.authenticate(
      'acme',
      `Bearer ${(await s.tenants.login({ tenantId: 'acme', email: `other-${roles.join('')}@acme.test`, password: PW })).access_token}`,
    );
    void other;
    try {
      await s.tenants.getUser(p, admin.userId);
      return 'ok';
    } catch (e) {
      return isAppError(e) ? e.code : String(e);
    }
  }
});
