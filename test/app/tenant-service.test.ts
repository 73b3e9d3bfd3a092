import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import type { Commit } from '../../shared/domain/events';
import type { Role } from '../../shared/domain/identity';
import type { OperatorPrincipal } from '../../shared/ports/operator-auth';
import type { TenantDirectory } from '../../shared/ports/tenant-directory';
import { storeBackends, TestClock } from '../support/store-backends';

const operator: OperatorPrincipal = { id: 'operator-key:test' };
const req = { correlationId: 'corr-1' };
const PW = 'a long enough password';

const backends = storeBackends('svc');

for (const [name, make] of backends) {
  describe(`TenantService on ${name}`, () => {
    let dir: string;
    let keys: LocalKeyProvider;
    let clock: TestClock;
    let directory: TenantDirectory;
    let svc: TenantService;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'svc-'));
      keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
      clock = new TestClock();
      directory = await make(keys, clock, dir);
      svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    });
    afterEach(async () => {
      await svc.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    });

    const create = (id: string) =>
      svc.createTenant(operator, { id, name: `${id} Ltd`, admin: { email: `Admin@${id}.test`, password: PW } }, req);
    const principalOf = async (tenant: string, email: string, password = PW): Promise<UserPrincipal> => {
      const t = await svc.login({ tenantId: tenant, email, password });
      return svc.authenticate(tenant, `Bearer ${t.access_token}`);
    };

    it('creates the tenant store, its key and its first admin; the admin signs in', async () => {
      const r = await create('acme');
      expect(r).toMatchObject({ id: 'acme', status: 'ready' });
      const p = await principalOf('acme', 'admin@acme.test');
      expect(p).toMatchObject({ tenantId: 'acme', email: 'admin@acme.test', roles: ['admin'] });
      const meta = await directory.getMeta('acme');
      expect(meta?.keyName).toMatch(/^tenant-acme-[0-9a-f]{8}$/);
      const events = await directory.openEventStore('acme');
      const [created] = await events.readStream('tenant');
      expect(created).toMatchObject({ author: { kind: 'operator', id: operator.id }, correlationId: 'corr-1' });
    });

    it('an existing id → conflict, and the existing tenant is untouched', async () => {
      await create('acme');
      await expect(create('acme')).rejects.toMatchObject({ code: 'conflict' });
      expect(await principalOf('acme', 'admin@acme.test')).toBeTruthy();
      if (name === 'embedded') expect(readdirSync(join(dir, 'keys')).filter((f) => f.startsWith('tenant-acme'))).toHaveLength(1);
    });

    it('nothing half-created when a step fails: store and key are removed, the id is free again', async () => {
      const failing: TenantDirectory = Object.create(directory) as TenantDirectory;
      // The store fails after the tenant's first commits were written.
      failing.create = (meta, o) =>
        directory.create(meta, {
          populate: async (events) => {
            await o?.populate?.(events);
            throw new Error('store went away');
          },
        });
      const broken = new TenantService({ directory: failing, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
      await expect(
        broken.createTenant(operator, { id: 'half', name: 'H', admin: { email: 'a@h.test', password: PW } }, req),
      ).rejects.toThrow('store went away');
      expect(await directory.getMeta('half')).toBeUndefined();
      if (name === 'embedded') expect(readdirSync(join(dir, 'keys')).filter((f) => f.startsWith('tenant-half'))).toEqual([]);
      await create('half');
      expect(await principalOf('half', 'a@h.test').catch(() => 'no')).toBe('no');
      expect(await principalOf('half', 'admin@half.test')).toBeTruthy();
    });

    it('a tenant abandoned in "creating" long ago can be created again', async () => {
      // A crash after the claim (Cosmos claims first, then fills the store; older embedded
      // versions did too): the id is claimed, its meta says "creating", nothing was answered.
      const keyName = 'tenant-stuck-0badc0de';
      await keys.createKey(keyName);
      await directory.create({
        id: 'stuck',
        name: 'S',
        status: 'creating',
        createdAt: clock.now().toISOString(),
        keyName,
        signingKey: await keys.wrapKey(keyName, randomBytes(32)),
      });
      expect((await directory.getMeta('stuck'))?.status).toBe('creating');
      await expect(create('stuck')).rejects.toMatchObject({ code: 'conflict' });
      await expect(svc.login({ tenantId: 'stuck', email: 'a@s.test', password: PW })).rejects.toMatchObject({ code: 'unauthenticated' });
      clock.t += 11 * 60_000;
      await create('stuck');
      expect(await principalOf('stuck', 'admin@stuck.test')).toBeTruthy();
    });

    it('timers work on ready tenants only: suspended ones are left out', async () => {
      await create('acme');
      await create('globex');
      expect(await svc.servedTenantIds()).toEqual(['acme', 'globex']);
      await svc.setSuspended('globex', true, operator, req);
      expect(await svc.servedTenantIds()).toEqual(['acme']);
      expect((await svc.listTenants()).map((t) => `${t.id}:${t.status}`)).toEqual(['acme:ready', 'globex:suspended']);
    });

    it("tokens are bound to their tenant's own signing key", async () => {
      await create('acme');
      await create('globex');
      const t = await svc.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW });
      await expect(svc.authenticate('globex', `Bearer ${t.access_token}`)).rejects.toMatchObject({ code: 'unauthenticated' });
      const ma = await directory.getMeta('acme');
      const mg = await directory.getMeta('globex');
      expect(ma!.signingKey.keyId).not.toBe(mg!.signingKey.keyId);
    });

    it('expired tokens, password changes and disabling end a session', async () => {
      await create('acme');
      const admin = await principalOf('acme', 'admin@acme.test');
      const u = await svc.createUser(admin, { email: 'e@acme.test', password: PW, roles: ['editor'] }, req);
      const t1 = (await svc.login({ tenantId: 'acme', email: 'e@acme.test', password: PW })).access_token;
      clock.t += 601_000;
      await expect(svc.authenticate('acme', `Bearer ${t1}`)).rejects.toMatchObject({ code: 'unauthenticated' });
      const t2 = (await svc.login({ tenantId: 'acme', email: 'e@acme.test', password: PW })).access_token;
      await svc.updateUser(admin, { userId: u.userId, patch: { password: 'another long password' } }, req);
      await expect(svc.authenticate('acme', `Bearer ${t2}`)).rejects.toMatchObject({ code: 'unauthenticated' });
      await expect(svc.login({ tenantId: 'acme', email: 'e@acme.test', password: PW })).rejects.toMatchObject({ code: 'unauthenticated' });
      const t3 = (await svc.login({ tenantId: 'acme', email: 'e@acme.test', password: 'another long password' })).access_token;
      await svc.updateUser(admin, { userId: u.userId, patch: { disabled: true } }, req);
      await expect(svc.authenticate('acme', `Bearer ${t3}`)).rejects.toMatchObject({ code: 'unauthenticated' });
    });

    it('Idempotency-Key on user creation: a retry (also a concurrent one) gets the first answer; another request or password with the key → 422', async () => {
      await create('acme');
      const admin = await principalOf('acme', 'admin@acme.test');
      const input = { email: 'k@acme.test', password: PW, roles: ['editor' as const] };
      const idem = { key: 'create-k', requestHash: 'h1' };
      const first = await svc.createUserOnce(admin, input, idem, req);
      expect(first.replayed).toBe(false);
      const retry = await svc.createUserOnce(admin, input, idem, req);
      expect(retry).toEqual({ user: first.user, replayed: true });
      // Without the key, the same create is a conflict, as before.
      await expect(svc.createUser(admin, input, req)).rejects.toMatchObject({ code: 'conflict' });
      await expect(svc.createUserOnce(admin, input, { key: 'create-k', requestHash: 'other' }, req)).rejects.toMatchObject({
        code: 'unprocessable',
      });
      await expect(svc.createUserOnce(admin, { ...input, password: 'a different long password' }, idem, req)).rejects.toMatchObject({
        code: 'unprocessable',
      });
      // Later changes do not change the replayed answer.
      await svc.updateUser(admin, { userId: first.user.userId, patch: { roles: ['viewer'] }, ifMatch: 1 }, req);
      expect((await svc.createUserOnce(admin, input, idem, req)).user).toEqual(first.user);
      // Two attempts at once: one creates, the other answers as it did.
      const both = await Promise.all(
        [1, 2].map(() => svc.createUserOnce(admin, { ...input, email: 'race@acme.test' }, { key: 'race', requestHash: 'h' }, req)),
      );
      expect(both.map((b) => b.replayed).sort()).toEqual([false, true]);
      expect(both[0]!.user).toEqual(both[1]!.user);
      expect((await svc.userHistory(admin, both[0]!.user.userId)).length).toBe(1);
    });

    it('one PATCH with several changes appends exactly one commit; a no-op appends nothing', async () => {
      await create('acme');
      const admin = await principalOf('acme', 'admin@acme.test');
      const u = await svc.createUser(admin, { email: 'v@acme.test', password: PW, roles: ['viewer'] }, req);
      const r = await svc.updateUser(admin, { userId: u.userId, patch: { roles: ['editor'], disabled: true }, ifMatch: 1 }, req);
      expect(r).toMatchObject({ version: 2, roles: ['editor'], disabled: true });
      const again = await svc.updateUser(admin, { userId: u.userId, patch: { roles: ['editor'], disabled: true }, ifMatch: 2 }, req);
      expect(again.version).toBe(2);
      const h = await svc.userHistory(admin, u.userId);
      expect(h.map((c) => c.events.map((e) => (e as { type: string }).type))).toEqual([
        ['UserCreated'],
        ['UserRolesChanged', 'UserDisabled'],
      ]);
      await expect(svc.updateUser(admin, { userId: u.userId, patch: { roles: ['viewer'] }, ifMatch: 1 }, req)).rejects.toMatchObject({
        code: 'precondition_failed',
      });
    });

    describe('at least one enabled administrator, under real concurrency', () => {
      const twoAdmins = async () => {
        await create('acme');
        const a = await principalOf('acme', 'admin@acme.test');
        const bView = await svc.createUser(a, { email: 'b@acme.test', password: PW, roles: ['admin'] }, req);
        const b = await principalOf('acme', 'b@acme.test');
        return { a, b, bView };
      };
      const enabledAdmins = async (admin: UserPrincipal, ids: string[]) => {
        const views = await Promise.all(ids.map((id) => svc.getUser(admin, id)));
        return views.filter((v) => !v.disabled && v.roles.includes('admin')).map((v) => v.userId);
      };

      const patches: Array<[string, () => { disabled?: boolean; roles?: Role[] }]> = [
        ['disable', () => ({ disabled: true })],
        ['demote', () => ({ roles: ['editor'] })],
      ];
      for (const [what, patch] of patches) {
        it(`two admins who ${what} each other at the same moment: exactly one succeeds, one admin remains`, async () => {
          const { a, b } = await twoAdmins();
          const results = await Promise.allSettled([
            svc.updateUser(a, { userId: b.userId, patch: patch() }, req),
            svc.updateUser(b, { userId: a.userId, patch: patch() }, req),
          ]);
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
          expect(['unprocessable', 'conflict']).toContain((failed.reason as { code: string }).code);
          const winner = results[0]!.status === 'fulfilled' ? a : b;
          const remaining = await enabledAdmins(await principalOf('acme', winner.email), [a.userId, b.userId]);
          expect(remaining).toEqual([winner.userId]);
        });
      }

      it('three admins removing each other in a ring: never all of them', async () => {
        const { a, b } = await twoAdmins();
        await svc.createUser(a, { email: 'c@acme.test', password: PW, roles: ['admin'] }, req);
        const c = await principalOf('acme', 'c@acme.test');
        const results = await Promise.allSettled([
          svc.updateUser(a, { userId: b.userId, patch: { disabled: true } }, req),
          svc.updateUser(b, { userId: c.userId, patch: { roles: ['viewer'] } }, req),
          svc.updateUser(c, { userId: a.userId, patch: { disabled: true } }, req),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(2);
        const events = await directory.openEventStore('acme');
        const ids = [a.userId, b.userId, c.userId];
        let enabled = 0;
        for (const id of ids) {
          const commits = await events.readStream(`user-${id}`);
          const s = commits
            .flatMap((x) => x.events)
            .reduce<Record<string, unknown> | undefined>((st, e) => {
              const d = e.data as { roles?: string[]; new?: string[] };
              if (e.type === 'UserCreated') return { roles: d.roles, disabled: false };
              if (e.type === 'UserRolesChanged') return Object.assign(st ?? {}, { roles: d.new });
              if (e.type === 'UserDisabled') return Object.assign(st ?? {}, { disabled: true });
              return st;
            }, undefined);
          if (s && !s.disabled && (s.roles as string[]).includes('admin')) enabled++;
        }
        expect(enabled).toBeGreaterThanOrEqual(1);
      });

      it('the last admin cannot be removed by a sequence either; granting first makes it possible', async () => {
        const { a, b } = await twoAdmins();
        await svc.updateUser(a, { userId: b.userId, patch: { disabled: true } }, req);
        // b is disabled: a is the last one, and cannot drop themselves (self rule) —
        // re-enabling b and demoting a by b works.
        await svc.updateUser(a, { userId: b.userId, patch: { disabled: false } }, req);
        const b2 = await principalOf('acme', 'b@acme.test');
        await expect(svc.updateUser(b2, { userId: a.userId, patch: { roles: ['viewer'] } }, req)).resolves.toMatchObject({
          roles: ['viewer'],
        });
        const history = await (await directory.openEventStore('acme')).readStream('tenant-admins');
        expect(history.map((c) => (c.events[0]!.data as { admins: string[] }).admins.length)).toEqual([1, 2, 1, 2, 1]);
      });

      it('a tenant from before the admins stream (restored from an old backup): the list is found from its users, and the race still holds', async () => {
        const { a, b } = await twoAdmins();
        const source = await directory.openEventStore('acme');
        const commits: Commit[] = [];
        let cp: string | undefined;
        for (;;) {
          const page = await source.readFeed(cp, { maxCount: 100 });
          if (page.commits.length === 0) break;
          commits.push(...page.commits.filter((c) => c.streamId !== 'tenant-admins' && c.streamId !== 'restores'));
          cp = page.checkpoint;
        }
        async function* feed() {
          yield* commits;
        }
        await svc.restoreTenant(
          operator,
          { id: 'legacy', name: 'Legacy', commits: feed(), details: { source: 'acme', tier: 'test', asOf: new Date().toISOString() } },
          req,
        );
        const legacy = await directory.openEventStore('legacy');
        expect(await legacy.readStream('tenant-admins')).toEqual([]);
        const la = await principalOf('legacy', 'admin@acme.test');
        const lb = await principalOf('legacy', 'b@acme.test');
        const results = await Promise.allSettled([
          svc.updateUser(la, { userId: lb.userId, patch: { disabled: true } }, req),
          svc.updateUser(lb, { userId: la.userId, patch: { disabled: true } }, req),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const [first] = await legacy.readStream('tenant-admins');
        expect((first!.events[0]!.data as { admins: string[] }).admins).toHaveLength(1);
        void a;
        void b;
      });
    });
  });
}
