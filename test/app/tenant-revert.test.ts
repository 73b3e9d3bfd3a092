/**
 * Tenant-wide revert (shared/app/revert/tenant-revert.ts) on the real stores, embedded and
 * Cosmos (local server), with a clock the test moves: dry run, run, an interrupted run that
 * is resumed under the same operation id (nothing reverted twice), conflicts with changes
 * made by others after the start, records the current schema refuses, replays.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import type { Progress } from '../../shared/app/progress';
import { RecordService } from '../../shared/app/records';
import { RevertService, type TenantRevertInput, type TenantRevertResult } from '../../shared/app/revert';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import type { RecordRevertedData } from '../../shared/domain/records';
import { recordStreamId } from '../../shared/domain/records';
import { revertOperationStreamId } from '../../shared/domain/revert';
import { storeBackends, TestClock } from '../support/store-backends';

const PW = 'a long enough password';
const req = { correlationId: 'c-1' };
const backends = storeBackends('rev');

const ITEM = { type: 'object', required: ['n'], properties: { n: { type: 'integer' }, tag: { type: 'string' } } };

for (const [name, make] of backends) {
  describe(`tenant-wide revert on ${name}`, () => {
    let dir: string;
    let clock: TestClock;
    let tenants: TenantService;
    let records: RecordService;
    let revert: RevertService;
    let admin: UserPrincipal;
    let editor: UserPrincipal;
    /** Record ids by what happened to them after `asOf`. */
    let ids: { changed: string[]; deleted: string[]; created: string[]; unchanged: string[] };
    let asOf: Date;

    const versionOf = async (id: string) => (await tenants.stores('acme')).events.streamVersion(recordStreamId('item', id));
    const run = (input: Partial<TenantRevertInput>, key?: string, onProgress?: (p: Progress) => void, abortSignal?: AbortSignal) =>
      revert
        .prepareTenantRevert(
          admin,
          { asOf, ...input },
          {
            ...req,
            ...(key ? { idempotency: { key, requestHash: JSON.stringify(input) } } : {}),
            ...(abortSignal ? { abortSignal } : {}),
          },
        )
        .then((prepared) => prepared.run(onProgress));
    /** This operation's RecordReverted events of a record. */
    const revertsOf = async (id: string, operationId: string) => {
      const { events } = await tenants.stores('acme');
      const commits = await events.readStream(recordStreamId('item', id));
      return commits.flatMap((c) =>
        c.events.filter((e) => e.type === 'RecordReverted' && (e.data as RecordRevertedData).operationId === operationId),
      );
    };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'revert-'));
      clock = new TestClock();
      const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
      const directory = await make(keys, clock, dir);
      tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
      records = new RecordService(tenants, clock);
      revert = new RevertService({ stores: tenants.tenantStores, records: records.context, clock });
      await tenants.createTenant({ id: 'op' }, { id: 'acme', name: 'A', admin: { email: 'admin@a.test', password: PW } }, req);
      const auth = async (email: string) =>
        tenants.authenticate('acme', `Bearer ${(await tenants.login({ tenantId: 'acme', email, password: PW })).access_token}`);
      admin = await auth('admin@a.test');
      await tenants.createUser(admin, { email: 'ed@a.test', password: PW, roles: ['editor'] }, req);
      editor = await auth('ed@a.test');
      await records.defineType(admin, { type: 'item', schema: ITEM }, req);
      await records.defineType(admin, { type: 'other', schema: { type: 'object' } }, req);
      const create = async (n: number) => (await records.createRecord(editor, { type: 'item', data: { n } }, req)).record.id;
      ids = { changed: [], deleted: [], created: [], unchanged: [] };
      for (let i = 0; i < 4; i++) ids.changed.push(await create(i));
      for (let i = 0; i < 2; i++) ids.deleted.push(await create(10 + i));
      ids.unchanged.push(await create(20));
      clock.tick();
      asOf = clock.now();
      clock.tick();
      for (const id of ids.changed)
        await records.patchRecord(editor, { type: 'item', id, patch: { n: 99, tag: 'wrong' }, ifMatch: 1 }, req);
      for (const id of ids.deleted) await records.deleteRecord(editor, { type: 'item', id, ifMatch: 1 }, req);
      for (let i = 0; i < 2; i++) ids.created.push(await create(30 + i));
      // Another type: left alone by a revert of `item`.
      await records.createRecord(editor, { type: 'other', data: { x: 1 } }, req);
      clock.tick();
    });
    afterEach(async () => {
      await tenants.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    });

    it('a dry run answers with the plan and writes nothing; the run then does what it planned', async () => {
      const all = [...ids.changed, ...ids.deleted, ...ids.created, ...ids.unchanged];
      const before = await Promise.all(all.map(versionOf));
      const plan = await run({ types: ['item'], dryRun: true, reason: 'bad import' });
      expect(plan).toMatchObject({
        dryRun: true,
        asOf: asOf.toISOString(),
        types: ['item'],
        counts: { examined: 9, changed: 4, restored: 2, deleted: 2, unchanged: 1, conflicts: 0, invalid: 0 },
        conflicts: [],
        invalid: [],
        replayed: false,
      });
      expect(plan.operationId).toBeUndefined();
      expect(plan.samples).toHaveLength(8);
      expect(plan.samples.find((x) => x.id === ids.changed[0])).toEqual({
        type: 'item',
        id: ids.changed[0],
        outcome: 'changed',
        changes: [
          { path: '/n', old: 99, new: 0 },
          { path: '/tag', old: 'wrong' },
        ],
      });
      expect(await Promise.all(all.map(versionOf))).toEqual(before);

      const done = await run({ types: ['item'], reason: 'bad import' }, 'k-1');
      expect(done).toMatchObject({ dryRun: false, counts: plan.counts, replayed: false });
      expect(done.operationId).toMatch(/^op_/);
      expect(done.samples.map((x) => [x.id, x.outcome, x.changes]).sort()).toEqual(
        plan.samples.map((x) => [x.id, x.outcome, x.changes]).sort(),
      );
      // Every record is as it was at asOf, and each changed one got exactly one revert of this run.
      for (const id of ids.changed) {
        expect((await records.getRecord(editor, { type: 'item', id })).data).toEqual(
          (await records.getRecord(editor, { type: 'item', id, asOf })).data,
        );
        expect(await revertsOf(id, done.operationId!)).toHaveLength(1);
      }
      for (const id of ids.deleted) expect((await records.getRecord(editor, { type: 'item', id })).version).toBe(3);
      for (const id of ids.created) await expect(records.getRecord(editor, { type: 'item', id })).rejects.toMatchObject({ code: 'gone' });
      expect(await versionOf(ids.unchanged[0]!)).toBe(1);
      const list = await records.list(editor, { type: 'item', filters: [], limit: 100 });
      expect(list.items.map((r) => r.data.n).sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 2, 3, 10, 11, 20]);
      expect((await records.list(editor, { type: 'other', filters: [], limit: 10 })).items).toHaveLength(1);
      // The journal: started and finished, and the audit log shows both to administrators.
      const { events } = await tenants.stores('acme');
      const journal = await events.readStream(revertOperationStreamId(done.operationId!));
      expect(journal.flatMap((c) => c.events.map((e) => e.type))).toEqual(['TenantRevertStarted', 'TenantRevertFinished']);
      const audit = await records.audit(admin, { limit: 50 });
      expect(audit.items.filter((e) => e.eventType === 'RecordReverted')).toHaveLength(8);
      expect(audit.items.find((e) => e.eventType === 'TenantRevertStarted')?.changes).toEqual([
        { path: '/asOf', new: asOf.toISOString() },
        { path: '/types', new: ['item'] },
        { path: '/reason', new: 'bad import' },
      ]);

      // The same request again answers the stored result and appends nothing.
      const again = await run({ types: ['item'], reason: 'bad import' }, 'k-1');
      expect(again).toEqual({ ...done, replayed: true });
      expect((await events.readStream(revertOperationStreamId(done.operationId!))).length).toBe(2);
      // The same key with another request is refused.
      await expect(run({ types: ['item'], reason: 'other' }, 'k-1')).rejects.toMatchObject({ code: 'unprocessable' });
    });

    it('an interrupted run resumes under the same key: a record changed by someone else since the start is a conflict, left alone', async () => {
      const stop = new AbortController();
      // The start is journalled, then the run is stopped before it touches a record.
      await expect(
        run({ types: ['item'] }, 'k-2', (p) => (p.phase === 'catch-up' ? stop.abort() : undefined), stop.signal),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(await versionOf(ids.changed[0]!)).toBe(2);
      clock.tick();
      // Someone changes a record after the run started.
      await records.patchRecord(editor, { type: 'item', id: ids.changed[3]!, patch: { n: 1000 }, ifMatch: 2 }, req);
      clock.tick();
      const done = await run({ types: ['item'] }, 'k-2');
      expect(done.counts).toEqual({ examined: 9, changed: 3, restored: 2, deleted: 2, unchanged: 1, conflicts: 1, invalid: 0 });
      expect(done.conflicts).toEqual([
        {
          type: 'item',
          id: ids.changed[3],
          version: 3,
          updatedAt: expect.any(String),
          updatedBy: expect.objectContaining({ email: 'ed@a.test' }),
        },
      ]);
      expect(Date.parse(done.startedAt!)).toBeLessThan(Date.parse(done.conflicts[0]!.updatedAt));
      expect((await records.getRecord(editor, { type: 'item', id: ids.changed[3]! })).data).toEqual({ n: 1000, tag: 'wrong' });
      expect((await records.getRecord(editor, { type: 'item', id: ids.changed[0]! })).data).toEqual({ n: 0 });
    });

    it('without Idempotency-Key the same request resumes its unfinished run (conflicts kept); once finished, it starts a new run', async () => {
      const stop = new AbortController();
      await expect(
        run({ types: ['item'] }, undefined, (p) => (p.phase === 'catch-up' ? stop.abort() : undefined), stop.signal),
      ).rejects.toMatchObject({ name: 'AbortError' });
      clock.tick();
      // Changed by someone else after the interrupted run started: the resumed run leaves it alone.
      await records.patchRecord(editor, { type: 'item', id: ids.changed[3]!, patch: { n: 1000 }, ifMatch: 2 }, req);
      clock.tick();
      const progress: Progress[] = [];
      const done = await run({ types: ['item'] }, undefined, (p) => progress.push(p));
      expect(done.counts).toEqual({ examined: 9, changed: 3, restored: 2, deleted: 2, unchanged: 1, conflicts: 1, invalid: 0 });
      expect(done.retry).toMatch(/no Idempotency-Key/);
      // Progress has a total: the records of the types reverted.
      expect(progress.filter((p) => p.phase === 'revert').at(-1)).toEqual({ phase: 'revert', done: 9, total: 9 });
      // Finished: the same request is a new run, which now reverts the record the first one left alone.
      clock.tick();
      const next = await run({ types: ['item'] });
      expect(next.operationId).not.toBe(done.operationId);
      expect(next.counts).toEqual({ examined: 9, changed: 1, restored: 0, deleted: 0, unchanged: 8, conflicts: 0, invalid: 0 });
      expect((await records.getRecord(editor, { type: 'item', id: ids.changed[3]! })).data).toEqual({ n: 3 });
      const plan = await run({ types: ['item'], dryRun: true });
      expect(plan.retry).toMatch(/Idempotency-Key/);
    });

    it('a run stopped midway and retried reverts every record exactly once', { timeout: 180_000 }, async () => {
      // 150 more records changed after asOf (batches of 100: the first batch is reverted before the stop).
      const more: string[] = [];
      clock.t = asOf.getTime() - 500;
      for (let i = 0; i < 150; i++) more.push((await records.createRecord(editor, { type: 'item', data: { n: 100 + i } }, req)).record.id);
      clock.t = asOf.getTime() + 2000;
      for (const id of more) await records.patchRecord(editor, { type: 'item', id, patch: { n: -1 }, ifMatch: 1 }, req);
      clock.tick();
      const stop = new AbortController();
      await expect(
        run({}, 'k-3', (p) => (p.phase === 'revert' && p.done >= 100 ? stop.abort() : undefined), stop.signal),
      ).rejects.toMatchObject({ name: 'AbortError' });
      const done: TenantRevertResult = await run({}, 'k-3');
      const reverted = [...ids.changed, ...more];
      const counts = await Promise.all(reverted.map((id) => revertsOf(id, done.operationId!).then((r) => r.length)));
      expect(counts.every((n) => n === 1)).toBe(true);
      // Some were reverted before the stop: the retry found them and counted them, it did not revert them again.
      expect(done.counts).toEqual({ examined: 9 + 150 + 1, changed: 154, restored: 2, deleted: 3, unchanged: 1, conflicts: 0, invalid: 0 });
      // The whole tenant (no types): the `other` record, created after asOf, was deleted too.
    });

    it("records whose state at asOf the type's current schema refuses are reported and not written", async () => {
      await records.defineType(admin, { type: 'item', schema: { ...ITEM, required: ['n', 'tag'] } }, req);
      clock.tick();
      const done = await run({ types: ['item'] }, 'k-4');
      // Changed and restored records would get data without `tag`: refused. Deleting needs no check.
      expect(done.counts).toMatchObject({ changed: 0, restored: 0, deleted: 2, unchanged: 1, invalid: 6 });
      expect(done.invalid.map((x) => x.id).sort()).toEqual([...ids.changed, ...ids.deleted].sort());
      expect(done.invalid[0]!.errors.length).toBeGreaterThan(0);
      expect(await versionOf(ids.changed[0]!)).toBe(2);
    });

    it('only administrators; unknown types 404; an asOf in the future or a bad reason 400, before anything is written', async () => {
      await expect(revert.prepareTenantRevert(editor, { asOf }, req)).rejects.toMatchObject({ code: 'forbidden' });
      await expect(run({ types: ['nope'] })).rejects.toMatchObject({ code: 'not_found' });
      await expect(run({ asOf: new Date(clock.now().getTime() + 60_000) })).rejects.toMatchObject({ code: 'validation' });
      await expect(run({ reason: 'x'.repeat(501) })).rejects.toMatchObject({ code: 'validation' });
      expect(await versionOf(ids.changed[0]!)).toBe(2);
    });
  });
}
