/**
 * Key escrow and shredding (the hole the first offboarding build left): tenant keys escrowed
 * for disaster recovery must not outlive a shredding on a write-once tier. The world has three
 * tiers, "azure" under a write-once policy (deletions refused). Before the shredding the
 * offline recovery key restores the tenant's key from every tier (from the write-once one with
 * the escrow key another tier holds); after it, the recovery key holder's view of every tier —
 * the live tiers, the write-once tier's retained objects, a copy of the write-once tier taken
 * before — opens no key of the tenant, and no key left anywhere unwraps its data. What stays
 * (a copy of a deletable tier taken before the shredding) is shown too, as the README says.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { readEscrow } from '../../../shared/app/recovery/key-escrow';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import type { WrappedKey } from '../../../shared/ports/key-provider';
import { rejectionOf } from '../../support/rejection';
import {
  filesContaining,
  offboardWorld,
  type OffboardWorld,
  op,
  req,
  type SeededTenant,
  seedTenant,
  wrappedKeysUnder,
  writeOnce,
} from './support';

const DAY = 86_400_000;
const TIERS = ['own-cloud', 'eu-cloud', 'azure'] as const;

describe('key escrow on a write-once tier does not outlive shredding; recovery before it still works', () => {
  let w: OffboardWorld;
  let acme: SeededTenant;
  let keyName: string;
  let copies: string;
  let scratch: string;
  const recoveryKey = () => createPrivateKey(w.recoveryPrivateKeyPem);
  const tier = (name: string) => w.s.backups.target(name);
  /** Acme's wrapped keys (segment manifests, file copies) in one tier's folder. */
  const wrappedOn = (root: string, name: string): WrappedKey[] =>
    wrappedKeysUnder(join(root, name)).filter((k) => k.keyId.includes(keyName));

  /** What the recovery key holder can do with `target` (and the other tiers given): import acme's key into a fresh provider. */
  async function recoverKey(target: BackupTarget, others: BackupTarget[]): Promise<LocalKeyProvider> {
    const fresh = new LocalKeyProvider({ dir: join(scratch, randomBytes(6).toString('hex')), masterKey: randomBytes(32) });
    const escrow = await readEscrow('acme', target, recoveryKey(), others);
    for (const e of escrow.values()) await fresh.importEscrowedKey(e.versions, recoveryKey(), { escrowKeys: e.escrowKeys });
    return fresh;
  }

  beforeAll(async () => {
    w = await offboardWorld();
    scratch = mkdtempSync(join(tmpdir(), 'escrow-shred-'));
    const targets = w.s.backups.targets;
    const i = targets.findIndex((t) => t.name === 'azure');
    targets[i] = writeOnce(targets[i]!);
    // The same array is every service's view of the tiers (backups, offboarding).
    expect(w.s.offboarding.deps.targets[i]).toBe(targets[i]);
    acme = await seedTenant(w.s, 'acme');
    await seedTenant(w.s, 'globex');
    for (const t of ['acme', 'globex'])
      expect((await w.s.backups.backupAllTiers(t)).map((r) => [r.tier, r.ok])).toEqual(TIERS.map((n) => [n, true]));
    keyName = (await w.s.directory.getMeta('acme'))!.keyName;
    copies = mkdtempSync(join(tmpdir(), 'escrow-shred-copies-'));
    cpSync(join(w.dir, 'backups'), copies, { recursive: true });
  }, 180_000);
  afterAll(async () => {
    await w?.close();
    for (const d of [copies, scratch]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('before shredding: the recovery key restores acme’s key from every tier — from the write-once one through the escrow key another tier holds', async () => {
    const all = w.s.backups.targets;
    for (const name of TIERS) {
      const wrapped = wrappedOn(join(w.dir, 'backups'), name);
      expect(wrapped.length).toBeGreaterThanOrEqual(2); // segments and the file copy
      const fresh = await recoverKey(tier(name), all);
      for (const wk of wrapped) expect((await fresh.unwrapKey(keyName, wk)).length).toBeGreaterThanOrEqual(32);
    }
    // The write-once tier holds sealed versions only, never the escrow key: alone it opens nothing.
    const e = await rejectionOf(recoverKey(tier('azure'), []));
    expect((e as Error).message).toMatch(/sealed under an escrow key that no reachable tier holds/);
    // Each deletable tier alone is enough.
    await recoverKey(tier('own-cloud'), []);
  });

  it('shredding: complete; the write-once tier retains its objects, none of which the recovery key opens', async () => {
    await w.s.offboarding.scheduleDeletion('acme', op, req);
    w.clock.t += 14 * DAY + 1000;
    const [r] = await w.s.offboarding.shredDue(req);
    expect(r).toMatchObject({ tenant: 'acme', status: 'complete', retainedTiers: ['azure'], failedTiers: [] });
    const [receipt] = await w.s.offboarding.receipts('acme');
    const azure = receipt!.steps.tiers.azure!;
    expect(azure.outcome).toBe('retained');
    expect(azure.retained).toBeGreaterThanOrEqual(3);
    // Sealed key versions are retained but not counted as openable by the recovery key.
    expect(azure.escrowRetained).toBeUndefined();
    expect(azure.detail).not.toMatch(/recovery private key opens/);
    for (const name of ['own-cloud', 'eu-cloud']) expect(receipt!.steps.tiers[name]).toMatchObject({ outcome: 'deleted', retained: 0 });
  });

  it('after shredding: the recovery key holder’s view of every live tier opens no key of acme', async () => {
    const all = w.s.backups.targets;
    for (const name of TIERS) {
      const e = await rejectionOf(recoverKey(tier(name), all));
      expect((e as { code?: string }).code).toBe('not_found');
    }
    expect(((await rejectionOf(recoverKey(tier('azure'), all))) as Error).message).toMatch(/no reachable tier holds/);
  });

  it('after shredding: a copy of the write-once tier taken before, with every live tier, opens nothing; no key left anywhere unwraps acme’s data', async () => {
    const oldAzure = new FolderBackupTarget('azure', join(copies, 'azure'));
    const e = await rejectionOf(recoverKey(oldAzure, w.s.backups.targets));
    expect((e as Error).message).toMatch(/no reachable tier holds/);
    // The retained and copied segments: acme's key is gone from the provider, and globex's key
    // (every version left in it) fails the integrity check on each of them.
    const wrapped = [...wrappedOn(join(w.dir, 'backups'), 'azure'), ...wrappedOn(copies, 'azure')];
    expect(wrapped.length).toBeGreaterThanOrEqual(4);
    const keys = w.s.offboarding.deps.keys;
    const globexKey = (await w.s.directory.getMeta('globex'))!.keyName;
    for (const wk of wrapped) {
      expect(((await rejectionOf(keys.unwrapKey(keyName, wk))) as { code?: string }).code).toBe('not_found');
      const version = (await keys.wrapKey(globexKey, randomBytes(32))).keyId;
      expect(((await rejectionOf(keys.unwrapKey(globexKey, { ...wk, keyId: version }))) as Error).name).toBe('KeyUnwrapError');
    }
    // Globex's escrow key presented as acme's does not open acme's sealed versions.
    const sealed = await readEscrow('globex', tier('own-cloud'), recoveryKey());
    const acmeSealed = [];
    for await (const o of oldAzure.list('tenants/acme/escrow/'))
      acmeSealed.push(JSON.parse(Buffer.from((await oldAzure.get(o.key))!).toString('utf8')));
    expect(acmeSealed).toHaveLength(1);
    const globexEscrowKey = [...sealed.values()][0]!.escrowKeys[0]!;
    const fresh = new LocalKeyProvider({ dir: join(scratch, 'forged'), masterKey: randomBytes(32) });
    await expect(fresh.importEscrowedKey(acmeSealed, recoveryKey(), { escrowKeys: [{ ...globexEscrowKey, keyName }] })).rejects.toThrow(
      /could not be decrypted/,
    );
    // And nothing of acme is readable in the data folder (tiers, receipts, keys).
    expect(filesContaining(w.dir, acme.marks)).toEqual([]);
  });

  it('what stays, as documented: a copy of a deletable tier taken before the shredding still holds the escrow key', async () => {
    const oldOwn = new FolderBackupTarget('own-cloud', join(copies, 'own-cloud'));
    const fresh = await recoverKey(oldOwn, []);
    const [wk] = wrappedOn(copies, 'own-cloud');
    expect((await fresh.unwrapKey(keyName, wk!)).length).toBeGreaterThanOrEqual(32);
  });
});
