/**
 * Types already stored in a tenant's log under the old rules (one shared Ajv instance, no
 * strict vocabulary) keep loading: their records stay readable, and they stay writable
 * unless the schema cannot run safely, in which case writes say to redefine the type.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import { TypeSchemaSandbox } from '../../shared/app/type-schemas';
import { decideRecord, recordStreamId } from '../../shared/domain/records';
import { TYPES_STREAM } from '../../shared/domain/type-set';
import { systemClock } from '../../shared/ports/runtime';
import { rejectionOf } from '../support/rejection';

const PW = 'a long enough password';
const OLD_ID = 'r_0123456789abcdefghijkl';
const req = { correlationId: 'c-1' };
let dir: string;
let tenants: TenantService;
let records: RecordService;
let sandbox: TypeSchemaSandbox;
let admin: UserPrincipal;

/** Appends a TypeSchemaSet as an earlier version of the service did, without today's checks. */
async function storeOldType(type: string, schema: Record<string, unknown>): Promise<void> {
  const { events } = await tenants.stores('acme');
  const v = await events.streamVersion(TYPES_STREAM);
  await events.append(TYPES_STREAM, v, [{ type: 'TypeSchemaSet', data: { type, schema, changes: [] } }], {
    author: { kind: 'system', id: 'old-version' },
    correlationId: 'old',
  });
}

/** A record written before, straight to the log. */
async function storeOldRecord(type: string, id: string, data: Record<string, unknown>): Promise<void> {
  const { events } = await tenants.stores('acme');
  await events.append(
    recordStreamId(type, id),
    0,
    decideRecord(undefined, { kind: 'create', type, id, data, schemaCheck: { outcome: 'valid' } }),
    {
      author: { kind: 'system', id: 'old-version' },
      correlationId: 'old',
    },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stored-types-'));
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  tenants = new TenantService({
    directory: new EmbeddedTenantDirectory(dir, keys, systemClock),
    keys,
    clock: systemClock,
    tokenTtlSeconds: 3600,
    passwordLogN: 14,
  });
  sandbox = new TypeSchemaSandbox();
  records = new RecordService(tenants, systemClock, () => undefined, sandbox);
  await tenants.createTenant({ id: 'op' }, { id: 'acme', name: 'A', admin: { email: 'admin@a.test', password: PW } }, req);
  admin = await tenants.authenticate(
    'acme',
    `Bearer ${(await tenants.login({ tenantId: 'acme', email: 'admin@a.test', password: PW })).access_token}`,
  );
});

afterAll(async () => {
  await sandbox.close();
  await tenants.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('types stored under the old rules', () => {
  it('unknown keywords, unknown formats and unbounded uniqueItems: still validated as before (those were ignored / unbounded then)', async () => {
    await storeOldType('legacy', {
      type: 'object',
      requred: ['x'],
      properties: { n: { type: 'integer' }, e: { type: 'string', format: 'emial' }, tags: { type: 'array', uniqueItems: true } },
    });
    const ok = await records.createRecord(admin, { type: 'legacy', data: { e: 'not checked', tags: [1, 2] } }, req);
    expect(ok.status).toBe(201);
    const bad = await rejectionOf(records.createRecord(admin, { type: 'legacy', data: { n: 'x', tags: [1, 1] } }, req));
    expect(bad).toMatchObject({
      code: 'unprocessable',
      details: { errors: expect.arrayContaining([{ path: '/n', message: 'must be integer' }]) },
    });
    // Redefining it now needs today's rules.
    const redefine = await rejectionOf(records.defineType(admin, { type: 'legacy', schema: { type: 'object', requred: ['x'] } }, req));
    expect(redefine).toMatchObject({ code: 'unprocessable', message: expect.stringContaining('unknown keyword "requred"') });
  });

  it('patterns of stored schemas run on RE2 too: the old catastrophic pattern answers at once', async () => {
    await storeOldType('slow', { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } });
    const bad = await rejectionOf(records.createRecord(admin, { type: 'slow', data: { code: `${'a'.repeat(80)}!` } }, req));
    expect(bad).toMatchObject({ code: 'unprocessable', details: { errors: [{ path: '/code', message: 'must match pattern "^(a+)+$"' }] } });
  });

  for (const [name, schema, reason] of [
    ['async', { $async: true, type: 'object' }, '"$async" is not supported'],
    ['loop', { $ref: '#' }, 'refers back to itself'],
    [
      'backref',
      { type: 'object', properties: { a: { type: 'string', pattern: '^(x)\\1$' } } },
      'cannot run on the linear-time (RE2) engine',
    ],
    ['infinite', { type: 'object', properties: { n: { type: 'number', maximum: null } } }, 'must be number'], // 1e400 was stored as null
  ] as const) {
    it(`a stored schema that cannot run safely (${name}): records stay readable; writes answer 409 and say to redefine; a redefinition fixes it`, async () => {
      const type = `old-${name}`;
      await storeOldType(type, schema as Record<string, unknown>);
      await storeOldRecord(type, OLD_ID, { a: 'x', n: 1 });
      // Reads do not need the schema.
      expect((await records.getRecord(admin, { type, id: OLD_ID })).data).toEqual({ a: 'x', n: 1 });
      expect((await records.getType(admin, { type })).schema).toEqual(schema);
      const write = await rejectionOf(records.createRecord(admin, { type, data: { a: 'y' } }, req));
      expect(write).toMatchObject({ name: 'AppError', code: 'conflict', status: 409 });
      expect((write as Error).message).toContain(reason);
      expect((write as Error).message).toContain(`redefines the type (PUT …/types/${type})`);
      const patch = await rejectionOf(records.patchRecord(admin, { type, id: OLD_ID, patch: { a: 'z' }, ifMatch: 1 }, req));
      expect(patch).toMatchObject({ code: 'conflict' });
      // Deleting needs no schema.
      expect((await records.deleteRecord(admin, { type, id: OLD_ID, ifMatch: 1 }, req)).status).toBe(204);
      await records.defineType(admin, { type, schema: { type: 'object', properties: { a: { type: 'string' } } } }, req);
      expect((await records.createRecord(admin, { type, data: { a: 'y' } }, req)).status).toBe(201);
    });
  }
});
