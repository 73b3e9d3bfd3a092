import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { runProjector } from '../../shared/app/projector';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import type { EventStore } from '../../shared/ports/event-store';
import type { TenantDirectory } from '../../shared/ports/tenant-directory';
import { storeBackends, TestClock } from '../support/store-backends';

const PW = 'a long enough password';
const req = { correlationId: 'c-1' };
const backends = storeBackends('rec');

for (const [name, make] of backends) {
  describe(`records command/query path on ${name}`, () => {
    let dir: string;
    let clock: TestClock;
    let directory: TenantDirectory;
    let tenants: TenantService;
    let records: RecordService;
    let admin: UserPrincipal;
    let editor: UserPrincipal;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rec-'));
      clock = new TestClock();
      const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
      directory = await make(keys, clock, dir);
      tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
      records = new RecordService(tenants, clock);
      await tenants.createTenant({ id: 'op' }, { id: 'acme', name: 'A', admin: { email: 'admin@a.test', password: PW } }, req);
      const auth = async (email: string) =>
        tenants.authenticate('acme', `Bearer ${(await tenants.login({ tenantId: 'acme', email, password: PW })).access_token}`);
      admin = await auth('admin@a.test');
      await tenants.createUser(admin, { email: 'ed@a.test', password: PW, roles: ['editor'] }, req);
      editor = await auth('ed@a.test');
      await records.defineType(
        admin,
        {
          type: 'customer',
          schema: { type: 'object', properties: { name: { type: 'string' }, city: { type: 'string' } }, required: ['name'] },
        },
        req,
      );
    });
    afterEach(async () => {
      await tenants.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    });

    it('create, patch twice, delete; current, asOf, history and list agree with the log', async () => {
      const c = await records.createRecord(editor, { type: 'customer', data: { name: 'N', city: 'Brno' } }, req);
      clock.tick();
      const p1 = await records.patchRecord(admin, { type: 'customer', id: c.record.id, patch: { city: 'Praha' }, ifMatch: 1 }, req);
      clock.tick();
      const p2 = await records.patchRecord(
        editor,
        { type: 'customer', id: c.record.id, patch: { city: null, name: 'M' }, ifMatch: 2 },
        req,
      );
      expect(p2.record).toMatchObject({
        version: 3,
        data: { name: 'M' },
        createdBy: { email: 'ed@a.test' },
        updatedBy: { email: 'ed@a.test' },
      });
      expect(p1.record.updatedBy).toMatchObject({ email: 'admin@a.test' });
      const mid = new Date(Date.parse(p1.record.updatedAt) + 500);
      expect((await records.getRecord(editor, { type: 'customer', id: c.record.id, asOf: mid })).data).toEqual({
        name: 'N',
        city: 'Praha',
      });
      const h = await records.history(editor, { type: 'customer', id: c.record.id, limit: 10 });
      expect(h.items[1]!.events[0]!.changes).toEqual([{ path: '/city', old: 'Brno', new: 'Praha' }]);
      expect(h.items[2]!.events[0]!.changes).toEqual(
        expect.arrayContaining([
          { path: '/city', old: 'Praha' },
          { path: '/name', old: 'N', new: 'M' },
        ]),
      );
      const list = await records.list(editor, { type: 'customer', filters: [{ path: ['name'], value: 'M' }], limit: 10 });
      expect(list.items.map((r) => r.id)).toEqual([c.record.id]);
      clock.tick();
      await records.deleteRecord(editor, { type: 'customer', id: c.record.id, ifMatch: 3 }, req);
      await expect(records.getRecord(editor, { type: 'customer', id: c.record.id })).rejects.toMatchObject({ code: 'gone' });
      expect((await records.getRecord(editor, { type: 'customer', id: c.record.id, asOf: mid })).version).toBe(2);
      expect((await records.list(editor, { type: 'customer', filters: [], limit: 10 })).items).toEqual([]);
      expect((await records.list(editor, { type: 'customer', filters: [], limit: 10, asOf: mid })).items.map((r) => r.version)).toEqual([
        2,
      ]);
      const lines: string[] = [];
      for await (const l of records.exportRecords(editor, { asOf: mid })) lines.push(l);
      expect(lines.map((l) => JSON.parse(l).data)).toEqual([{ name: 'N', city: 'Praha' }]);
    });

    it('idempotency: a retry after a lost acknowledgement appends nothing and returns the first response', async () => {
      const { events } = await tenants.stores('acme');
      const idem = { key: 'k-1', requestHash: 'h-1' };
      // Simulate "the write happened, but the answer was lost": the first attempt throws after appending.
      const realAppend = events.append.bind(events);
      let failOnce = true;
      (events as { append: EventStore['append'] }).append = async (...args) => {
        const r = await realAppend(...args);
        if (failOnce) {
          failOnce = false;
          throw new Error('connection reset');
        }
        return r;
      };
      await expect(records.createRecord(editor, { type: 'customer', data: { name: 'I' } }, { ...req, idempotency: idem })).rejects.toThrow(
        'connection reset',
      );
      const retry = await records.createRecord(editor, { type: 'customer', data: { name: 'I' } }, { ...req, idempotency: idem });
      expect(retry).toMatchObject({ status: 201, replayed: true, record: { version: 1, data: { name: 'I' } } });
      (events as { append: EventStore['append'] }).append = realAppend;
      await expect(
        records.createRecord(
          editor,
          { type: 'customer', data: { name: 'J' } },
          { ...req, idempotency: { key: 'k-1', requestHash: 'h-2' } },
        ),
      ).rejects.toMatchObject({
        code: 'unprocessable',
      });
      // The projection is complete after the feed projector ran, even though the inline projection was skipped.
      const { projections } = await tenants.stores('acme');
      await runProjector(events, projections, await projections.activeGeneration(), { clock });
      expect((await records.list(editor, { type: 'customer', filters: [], limit: 10 })).items.map((r) => r.data)).toEqual([{ name: 'I' }]);
    });

    it('a store failure before the write leaves nothing; the retry with the same key completes it', async () => {
      const { events } = await tenants.stores('acme');
      const realAppend = events.append.bind(events);
      const c = await records.createRecord(editor, { type: 'customer', data: { name: 'P' } }, req);
      (events as { append: EventStore['append'] }).append = async () => {
        throw new Error('store unavailable');
      };
      await expect(
        records.patchRecord(
          editor,
          { type: 'customer', id: c.record.id, patch: { name: 'Q' }, ifMatch: 1 },
          { ...req, idempotency: { key: 'p', requestHash: 'x' } },
        ),
      ).rejects.toThrow('store unavailable');
      (events as { append: EventStore['append'] }).append = realAppend;
      expect((await records.getRecord(editor, { type: 'customer', id: c.record.id })).version).toBe(1);
      const ok = await records.patchRecord(
        editor,
        { type: 'customer', id: c.record.id, patch: { name: 'Q' }, ifMatch: 1 },
        { ...req, idempotency: { key: 'p', requestHash: 'x' } },
      );
      expect(ok).toMatchObject({ replayed: false, record: { version: 2, data: { name: 'Q' } } });
    }, 20_000);

    it('roles: viewers cannot write, editors cannot define types', async () => {
      await tenants.createUser(admin, { email: 'v@a.test', password: PW, roles: ['viewer'] }, req);
      const viewer = await tenants.authenticate(
        'acme',
        `Bearer ${(await tenants.login({ tenantId: 'acme', email: 'v@a.test', password: PW })).access_token}`,
      );
      await expect(records.createRecord(viewer, { type: 'customer', data: { name: 'x' } }, req)).rejects.toMatchObject({
        code: 'forbidden',
      });
      await expect(records.defineType(editor, { type: 'x', schema: { type: 'object' } }, req)).rejects.toMatchObject({ code: 'forbidden' });
      expect((await records.listTypes(viewer)).map((t) => t.type)).toEqual(['customer']);
    });

    it('rebuilds projections into a new generation from the log', async () => {
      for (let i = 0; i < 5; i++) await records.createRecord(editor, { type: 'customer', data: { name: `n${i}` } }, req);
      const r = await records.rebuild('acme');
      expect(r.generation).toBe(2);
      expect(r.applied).toBeGreaterThanOrEqual(7);
      expect((await records.list(editor, { type: 'customer', filters: [], limit: 10 })).items).toHaveLength(5);
      const audit = await records.audit(admin, { limit: 100 });
      expect(audit.items.filter((e) => e.eventType === 'RecordCreated')).toHaveLength(5);
    });
  });
}
