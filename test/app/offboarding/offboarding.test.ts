/**
 * Tenant offboarding by crypto-shredding, through the services with a clock the test moves
 * (never a sleep): schedule → the tenant answers 410 → cancel → it is back as it was →
 * schedule again → the grace period ends → shredded. Then the three things the issue asks to
 * be shown: the tenant's old backups, files and database — including copies taken before the
 * shredding — cannot be decrypted by the service nor by any key left in the key provider; a
 * restore fails with a clear message; nothing of the tenant is readable on disk (no plaintext,
 * no key that unwraps what is left). The neighbour tenant is untouched.
 *
 * The `cosmos-e2e` project runs it again with the tenant stores on the Cosmos adapter (against
 * the in-process change-feed stand-in; keys, files and tiers stay local folders). There the
 * "database copy" is a dump of the tenant's container, and what the README says stays is
 * checked as such: Cosmos documents are not under the tenant key, so a copy of them taken
 * before (what Cosmos DB's continuous backup keeps for 30 days) still holds the record in clear.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import { FolderReceiptStore } from '../../../shared/adapters/embedded/folder-receipt-store';
import { TenantOffboarding } from '../../../shared/app/offboarding';
import { isAppError } from '../../../shared/domain/errors';
import type { DeletionReceipt } from '../../../shared/ports/receipt-store';
import { cosmosContainerDocuments, cosmosDocumentsContaining } from '../../support/cosmos-server';
import { e2eOnCosmos } from '../../support/host-process';
import { rejectionOf } from '../../support/rejection';
import {
  filesContaining,
  offboardWorld,
  type OffboardWorld,
  op,
  PW,
  req,
  type SeededTenant,
  seedTenant,
  wrappedKeysUnder,
} from './support';
import { tierFile, tierKeys } from '../../support/folder-tier';

const DAY = 86_400_000;
const codeOf = (e: unknown) => (isAppError(e) ? e.code : (e as Error)?.name);
const cosmosDatabase = () => 'tenants'; // COSMOS_DATABASE's default

describe('offboarding a tenant: schedule, cancel, schedule again, grace period ends, receipt', () => {
  let w: OffboardWorld;
  let acme: SeededTenant;
  let globex: SeededTenant;
  let copies: string;
  let keyName: string;
  let receipt: DeletionReceipt;

  beforeAll(async () => {
    w = await offboardWorld();
    acme = await seedTenant(w.s, 'acme');
    globex = await seedTenant(w.s, 'globex');
    for (const t of ['acme', 'globex']) {
      const runs = await w.s.backups.backupAllTiers(t);
      expect(runs.map((r) => [r.tier, r.ok])).toEqual([
        ['own-cloud', true],
        ['eu-cloud', true],
        ['azure', true],
      ]);
    }
    keyName = (await w.s.directory.getMeta('acme'))!.keyName;
    // What an attacker, an old disk image or a write-once tier keeps: copies taken before the shredding.
    copies = mkdtempSync(join(tmpdir(), 'offboard-copies-'));
    cpSync(join(w.dir, 'backups'), join(copies, 'backups'), { recursive: true });
    if (w.cosmosEndpoint) {
      // Cosmos: the tenant's container, document by document (its meta holds the wrapped signing secret).
      const docs = await cosmosContainerDocuments(w.cosmosEndpoint, cosmosDatabase(), 'tenant-acme');
      expect(docs?.length).toBeGreaterThan(0);
      mkdirSync(join(copies, 'tenant'));
      writeFileSync(join(copies, 'tenant', 'container.json'), JSON.stringify(docs));
    } else cpSync(join(w.dir, 'tenants', 'acme'), join(copies, 'tenant'), { recursive: true });
    cpSync(join(w.dir, 'files'), join(copies, 'files'), { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await w?.close();
    if (copies) rmSync(copies, { recursive: true, force: true });
  });

  it('the copies really hold acme’s backups, files and wrapped keys (so what follows can fail)', () => {
    const wrapped = wrappedKeysUnder(copies).filter((k) => k.keyId.includes(keyName));
    // store.json, the file's encryptiondata, and per tier: segment manifests and the file copy.
    expect(wrapped.length).toBeGreaterThanOrEqual(5);
    for (const tier of ['own-cloud', 'eu-cloud', 'azure'])
      expect(tierKeys(join(copies, 'backups', tier), 'tenants/acme/escrow/').length).toBe(1);
  });

  it('schedule: suspended at once — sign-in, tokens and every read answer 410; suspend/resume and restore are refused', async () => {
    const token = (await w.s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW })).access_token;
    const v = await w.s.offboarding.scheduleDeletion('acme', op, req);
    expect(v).toMatchObject({ id: 'acme', status: 'deleting' });
    expect(v.deletion?.purgeAfter).toBe(new Date(w.clock.t + 14 * DAY).toISOString());
    expect((await w.s.tenants.getTenantStatus('acme')).status).toBe('deleting');

    const gone = [
      await rejectionOf(w.s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW })),
      await rejectionOf(w.s.tenants.authenticate('acme', `Bearer ${token}`)),
      await rejectionOf(w.s.records.getRecord(acme.admin, { type: 'doc', id: acme.recordId })),
    ];
    for (const e of gone) {
      expect(codeOf(e)).toBe('gone');
      expect((e as Error).message).toMatch(/scheduled for deletion/);
    }
    expect(codeOf(await rejectionOf(w.s.tenants.setSuspended('acme', true, op, req)))).toBe('conflict');
    expect(codeOf(await rejectionOf(w.s.tenants.setSuspended('acme', false, op, req)))).toBe('conflict');
    expect(codeOf(await rejectionOf(w.s.offboarding.assertRestorable('acme')))).toBe('conflict');
    // Scheduling again answers the first schedule.
    expect(await w.s.offboarding.scheduleDeletion('acme', op, req)).toEqual(v);
    // Nothing is due yet.
    expect(await w.s.offboarding.shredDue(req)).toEqual([]);
    // The neighbour is served.
    expect((await w.s.records.getRecord(globex.admin, { type: 'doc', id: globex.recordId })).data).toEqual({ note: globex.marks[0] });
  });

  it('cancel: the tenant comes back with its record, file and sign-in', async () => {
    const v = await w.s.offboarding.cancelDeletion('acme', op, req);
    expect(v).toEqual({ id: 'acme', status: 'ready', createdAt: expect.any(String) });
    await w.s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW });
    expect((await w.s.records.getRecord(acme.admin, { type: 'doc', id: acme.recordId })).data).toEqual({ note: acme.marks[0] });
    expect(codeOf(await rejectionOf(w.s.offboarding.cancelDeletion('acme', op, req)))).toBe('conflict');
  });

  it('schedule again, then the grace period ends: shredded, with a complete receipt', async () => {
    const first = await w.s.offboarding.scheduleDeletion('acme', op, req);
    w.clock.t += 14 * DAY - 1000;
    expect(await w.s.offboarding.shredDue(req)).toEqual([]);
    w.clock.t += 2000;
    const results = await w.s.offboarding.shredDue(req);
    expect(results).toEqual([
      { tenant: 'acme', deletionId: first.deletion!.deletionId, status: 'complete', retainedTiers: [], failedTiers: [] },
    ]);
    // A second run finds nothing to do.
    expect(await w.s.offboarding.shredDue(req)).toEqual([]);

    const receipts = await w.s.offboarding.receipts('acme');
    expect(receipts).toHaveLength(1);
    receipt = receipts[0]!;
    expect(receipt).toMatchObject({
      tenant: 'acme',
      deletionId: first.deletion!.deletionId,
      status: 'complete',
      scheduledBy: `operator:${op.id}`,
      purgeAfter: first.deletion!.purgeAfter,
      keyName,
      steps: {
        key: { outcome: 'destroyed', versions: 1 },
        store: { outcome: 'removed' },
        files: { outcome: 'removed', objects: 1 },
      },
      copies: { 'own-cloud': 'written', 'eu-cloud': 'written', azure: 'written' },
    });
    expect(Date.parse(receipt.completedAt!)).toBe(w.clock.t);
    for (const tier of ['own-cloud', 'eu-cloud', 'azure']) {
      const t = receipt.steps.tiers[tier]!;
      expect(t).toMatchObject({ outcome: 'deleted', retained: 0 });
      expect(t.deleted).toBe(t.objects);
      expect(t.objects).toBeGreaterThanOrEqual(4); // manifests, segments, the file copy, the key escrow
      expect(t.sha256).toMatch(/^[0-9a-f]{64}$/);
      // The tier keeps a copy of the receipt, outside the tenant's prefix.
      const copy = JSON.parse(readFileSync(tierFile(join(w.dir, 'backups', tier), `receipts/acme/${receipt.deletionId}.json`), 'utf8'));
      expect(copy).toMatchObject({ tenant: 'acme', status: 'complete', deletionId: receipt.deletionId });
    }
    // Hashes, never contents.
    expect(JSON.stringify(receipt)).not.toMatch(/PLAINTEXT/);
  });

  it('the receipt outlives a lost receipts folder: read from the copies on the tiers', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'offboard-noreceipts-'));
    try {
      const elsewhere = new TenantOffboarding({ ...w.s.offboarding.deps, receipts: new FolderReceiptStore(empty) });
      const [fromTiers, ...more] = await elsewhere.receipts('acme');
      expect(more).toEqual([]);
      expect(fromTiers).toEqual({ ...receipt, copies: undefined });
      expect(await rejectionOf(elsewhere.assertRestorable('acme'))).toMatchObject({ code: 'gone' });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('nothing of acme is left in the data folder: no store, no files, no tier objects, no key', () => {
    expect(existsSync(join(w.dir, 'tenants', 'acme'))).toBe(false);
    expect(readdirSync(join(w.dir, 'files')).filter((n) => n.includes('acme'))).toEqual([]);
    expect(existsSync(join(w.dir, 'keys', `${keyName}.json`))).toBe(false);
    for (const tier of ['own-cloud', 'eu-cloud', 'azure']) {
      expect(tierKeys(join(w.dir, 'backups', tier), 'tenants/acme/')).toEqual([]);
      expect(tierKeys(join(w.dir, 'backups', tier), 'tenants/globex/').length).toBeGreaterThanOrEqual(4);
    }
    // No plaintext of acme anywhere under the data folder (backups, receipts and logs included).
    expect(filesContaining(w.dir, acme.marks)).toEqual([]);
    // No wrapped key of acme's key anywhere either (only the receipts name the key).
    expect(wrappedKeysUnder(w.dir).filter((k) => k.keyId.includes(keyName))).toEqual([]);
  });

  it.runIf(e2eOnCosmos)('Cosmos: acme’s container is gone, and no document of the account holds its plaintext', async () => {
    const endpoint = w.cosmosEndpoint!;
    expect(await cosmosContainerDocuments(endpoint, cosmosDatabase(), 'tenant-acme')).toBeUndefined();
    expect(await cosmosDocumentsContaining(endpoint, acme.marks)).toEqual([]);
    // The scan sees plaintext where there is some: globex's record row.
    expect((await cosmosDocumentsContaining(endpoint, [globex.marks[0]!])).length).toBeGreaterThan(0);
  });

  it("the copies taken before (old backups, files, database): neither acme's key nor any key left unwraps them", async () => {
    const wrapped = wrappedKeysUnder(copies).filter((k) => k.keyId.includes(keyName));
    expect(wrapped.length).toBeGreaterThanOrEqual(5);
    const keys = w.s.offboarding.deps.keys;
    for (const wk of wrapped) expect(codeOf(await rejectionOf(keys.unwrapKey(keyName, wk)))).toBe('not_found');
    // Every version of every key still in the provider (globex's), tried on each wrapped key:
    // the A256KW integrity check refuses every one.
    const left = readdirSync(join(w.dir, 'keys')).filter((f) => f.endsWith('.json'));
    expect(left).toHaveLength(1);
    let tries = 0;
    for (const f of left) {
      const doc = JSON.parse(readFileSync(join(w.dir, 'keys', f), 'utf8')) as { name: string; versions: Array<{ version: string }> };
      for (const v of doc.versions)
        for (const wk of wrapped) {
          tries++;
          const e = await rejectionOf(keys.unwrapKey(doc.name, { ...wk, keyId: `local:${doc.name}/${v.version}` }));
          expect((e as Error).name).toBe('KeyUnwrapError');
        }
    }
    expect(tries).toBeGreaterThanOrEqual(5);
    if (w.cosmosEndpoint) {
      // What stays, as the README says: Cosmos documents are not under the tenant key, so the
      // copy of acme's container holds its record in clear (continuous backup: 30 days); its
      // file, backups and tiers were ciphertext all along.
      expect(filesContaining(copies, acme.marks)).toEqual([join(copies, 'tenant', 'container.json')]);
      expect(filesContaining(copies, [acme.marks[1]!])).toEqual([]);
    } else {
      // The copies hold no plaintext either (it was ciphertext all along).
      expect(filesContaining(copies, acme.marks)).toEqual([]);
    }
  });

  it('a restore of the deleted tenant fails with a clear message — from the service and from an old copy of a tier', async () => {
    const e = await rejectionOf(w.s.offboarding.assertRestorable('acme'));
    expect(codeOf(e)).toBe('gone');
    expect((e as Error).message).toMatch(
      new RegExp(`was deleted on .* \\(deletion receipt ${receipt.deletionId}\\): its key was destroyed`),
    );
    // Going around the check: the backup engine itself, on the copy of a tier taken before.
    const old = new FolderBackupTarget('own-cloud', join(copies, 'backups', 'own-cloud'));
    const r = await rejectionOf(w.s.backups.restore(op, { tenant: 'acme', target: old, asOf: w.clock.now(), into: 'acme-back' }, req));
    expect((r as Error).message).not.toMatch(/PLAINTEXT/);
    expect(await w.s.directory.getMeta('acme-back')).toBeUndefined();
    expect(filesContaining(w.dir, acme.marks)).toEqual([]);
  });

  it('what stays, as documented: an old copy of a tier still holds the key escrow, which only the offline recovery private key opens', () => {
    for (const tier of ['own-cloud', 'eu-cloud', 'azure']) {
      expect(tierKeys(join(copies, 'backups', tier), 'tenants/acme/escrow/')).toHaveLength(1);
      // None is left on the live tiers.
      expect(tierKeys(join(w.dir, 'backups', tier), 'tenants/acme/')).toEqual([]);
    }
  });

  it('the neighbour is untouched: served, its backups verify, its file still decrypts', async () => {
    await w.s.tenants.login({ tenantId: 'globex', email: 'admin@globex.test', password: PW });
    expect((await w.s.records.getRecord(globex.admin, { type: 'doc', id: globex.recordId })).data).toEqual({ note: globex.marks[0] });
    for (const t of w.s.offboarding.deps.targets) expect((await w.s.backups.verify('globex', t)).ok).toBe(true);
    const dl = await w.s.files.open(globex.admin, { type: 'doc', id: globex.recordId, fileId: globex.fileId });
    let text = '';
    for await (const c of dl.body) text += Buffer.from(c).toString('utf8');
    expect(text).toContain(globex.marks[1]);
  });

  it('after shredding every tenant endpoint answers 410 (not 404), and the id is retired: creating or restoring into it is refused', async () => {
    const gone = [
      await rejectionOf(w.s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: PW })),
      await rejectionOf(w.s.tenants.authenticate('acme', 'Bearer whatever')),
      await rejectionOf(w.s.records.getRecord(acme.admin, { type: 'doc', id: acme.recordId })),
      await rejectionOf(w.s.tenants.getTenantStatus('acme')),
      await rejectionOf(w.s.tenants.setSuspended('acme', true, op, req)),
    ];
    for (const e of gone) {
      expect(codeOf(e)).toBe('gone');
      expect((e as Error).message).toContain(`was deleted on ${receipt.completedAt} (deletion receipt ${receipt.deletionId})`);
    }
    // An id that never existed is still 404.
    expect(codeOf(await rejectionOf(w.s.tenants.getTenantStatus('never-was')))).toBe('not_found');
    const created = await rejectionOf(seedTenant(w.s, 'acme'));
    expect(codeOf(created)).toBe('conflict');
    expect((created as Error).message).toMatch(
      /cannot be used for a new tenant: .*deletion receipt .*not reused: write-once backup tiers may still hold/,
    );
    const restored = await rejectionOf(
      w.s.backups.restore(
        op,
        { tenant: 'globex', target: w.s.backups.target('own-cloud'), asOf: w.clock.now(), into: 'acme' },
        { ...req, acceptPartial: true },
      ),
    );
    expect(codeOf(restored)).toBe('conflict');
    expect(await w.s.directory.getMeta('acme')).toBeUndefined();
    // No key was made for the refused tenants.
    expect(readdirSync(join(w.dir, 'keys')).filter((f) => f.startsWith('tenant-acme-'))).toEqual([]);
    // Other ids are free.
    await seedTenant(w.s, 'acme2');
  });
});
