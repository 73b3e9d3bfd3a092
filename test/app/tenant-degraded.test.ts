import { mkdtempSync, rmSync, unlinkSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../shared/app/service';
import { storageFaultOf } from '../../shared/app/tenant-health';

const operator = { id: 'operator-key:test' };
const req = { correlationId: 'corr-1' };
const PW = 'a long enough password';

describe('a tenant that cannot be served is degraded (503), the others are not', () => {
  let dir: string;
  let directory: EmbeddedTenantDirectory;
  let svc: TenantService;
  let keys: LocalKeyProvider;
  const clock = { now: () => new Date() };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'degraded-'));
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(dir, keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    for (const id of ['acme', 'globex'])
      await svc.createTenant(operator, { id, name: id, admin: { email: `admin@${id}.test`, password: PW } }, req);
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = async (t: string) =>
    svc.authenticate(
      t,
      `Bearer ${(await svc.login({ tenantId: t, email: `admin@${t}.test`, password: PW, client: '192.0.2.1' })).access_token}`,
    );

  it('disk full during a command → 503 "storage is full", operator status degraded (disk_full); the other tenant writes on', async () => {
    const a = await admin('acme');
    // A real SQLITE_FULL from the engine: cap the file at its current size.
    const db = (await directory.openSqlite('acme')).database;
    const { page_count: pages } = db.prepare('PRAGMA page_count').get() as { page_count: number };
    db.exec(`PRAGMA max_page_count = ${pages + 2}`);
    // Fill what is left of the capped file, then try a real command.
    const events = await directory.openEventStore('acme');
    let filled: unknown;
    let v = 0;
    for (const pad of [3000, 300, 30]) {
      filled = undefined;
      while (filled === undefined && v < 10_000) {
        await events
          .append('filler', v, [{ type: 'Filler', data: { pad: 'x'.repeat(pad) } }], {
            author: { kind: 'system', id: 'test' },
            correlationId: 'f',
          })
          .then(
            () => v++,
            (e: unknown) => (filled = e),
          );
      }
    }
    expect(storageFaultOf(filled), String(filled) + JSON.stringify(filled)).toBe('disk_full');
    const raw = await svc.createUser(a, { email: 'late@acme.test', password: PW, roles: ['viewer'] }, req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(storageFaultOf(raw)).toBe('disk_full');
    const answer = svc.asTenantFault('acme', raw) as {
      code: string;
      status: number;
      message: string;
      details: { retryAfterSeconds?: number };
    };
    expect(answer).toMatchObject({ code: 'unavailable', status: 503 });
    expect(answer.message).toMatch(/storage is full/);
    expect(answer.details.retryAfterSeconds).toBeGreaterThan(0);
    expect(await svc.describeTenant('acme')).toMatchObject({ id: 'acme', status: 'degraded', degraded: { reason: 'disk_full' } });
    expect((await svc.listTenants()).find((t) => t.id === 'acme')?.status).toBe('degraded');
    // The other tenant is untouched.
    const g = await admin('globex');
    await expect(svc.createUser(g, { email: 'new@globex.test', password: PW, roles: ['viewer'] }, req)).resolves.toMatchObject({
      email: 'new@globex.test',
    });
    expect(await svc.describeTenant('globex')).toMatchObject({ status: 'ready' });
    expect((await svc.describeTenant('globex')).degraded).toBeUndefined();
  });

  it('key unavailable → 503 on sign-in (never "wrong password"), no lockout counted; status degraded (key_unavailable); back to normal when the key returns', async () => {
    const meta = (await directory.getMeta('acme'))!;
    const keyFile = join(dir, 'keys', `${meta.keyName}.json`);
    renameSync(keyFile, `${keyFile}.away`);
    svc.forget('acme');
    // Drop the open store too (a restarted instance would have to unwrap its key).
    await directory.closeTenant('acme');

    for (let i = 0; i < 12; i++) {
      await expect(
        svc.login({ tenantId: 'acme', email: 'admin@acme.test', password: i % 2 ? PW : 'wrong password', client: '192.0.2.1' }),
      ).rejects.toMatchObject({
        code: 'unavailable',
        status: 503,
        message: expect.stringMatching(/encryption key/),
      });
    }
    expect(await svc.describeTenant('acme')).toMatchObject({
      status: 'degraded',
      degraded: { reason: 'key_unavailable', detail: expect.stringMatching(/key/) },
    });
    await expect(svc.login({ tenantId: 'globex', email: 'admin@globex.test', password: PW, client: '192.0.2.1' })).resolves.toBeTruthy();

    renameSync(`${keyFile}.away`, keyFile);
    // The operator's next look sees it healthy again (the probe clears the remembered fault)…
    expect(await svc.describeTenant('acme')).toMatchObject({ status: 'ready' });
    // …and twelve attempts while degraded counted nothing: the right password works at once.
    await expect(svc.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW, client: '192.0.2.1' })).resolves.toMatchObject({
      token_type: 'Bearer',
    });
    void unlinkSync;
  });
});
