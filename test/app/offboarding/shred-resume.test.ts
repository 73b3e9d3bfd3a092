/**
 * Shredding is crash-safe and idempotent: a run that dies at any step (after the key is
 * destroyed, before the store goes, after the files go, while a receipt is written, with a
 * tier unreachable) leaves a `shredding` receipt, and the next run finishes from there with
 * the same end state. A write-once tier's refusals are recorded as retained, with the
 * escrow objects named. (The same through kill -9 of the real host: test/host/crash-shred.test.ts.)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tierKeys } from '../../support/folder-tier';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TenantOffboarding } from '../../../shared/app/offboarding';
import type { AppError } from '../../../shared/domain/errors';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import type { BlobStoreFactory } from '../../../shared/ports/blob-store';
import type { KeyProvider } from '../../../shared/ports/key-provider';
import type { DeletionReceipt, ReceiptStore } from '../../../shared/ports/receipt-store';
import type { TenantDirectory } from '../../../shared/ports/tenant-directory';
import { rejectionOf } from '../../support/rejection';
import { filesContaining, offboardWorld, type OffboardWorld, op, req, type SeededTenant, seedTenant } from './support';

const DAY = 86_400_000;

/** `target` with `name` replaced by `fn`, everything else delegated. */
function overriding<T extends object>(target: T, name: string, fn: (...args: never[]) => unknown): T {
  return new Proxy(target, {
    get(t, p) {
      if (p === name) return fn;
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

const crash = (where: string) => new Error(`simulated crash ${where}`);

describe('shredding resumes after a failure at any step', () => {
  let w: OffboardWorld;
  let acme: SeededTenant;
  beforeEach(async () => {
    w = await offboardWorld();
    acme = await seedTenant(w.s, 'acme');
    await seedTenant(w.s, 'globex');
    expect((await w.s.backups.backupAllTiers('acme')).every((r) => r.ok)).toBe(true);
    await w.s.offboarding.scheduleDeletion('acme', op, req);
    w.clock.t += 14 * DAY;
  }, 120_000);
  afterEach(async () => {
    await w.close();
  });

  it('crashes after the key, before the store, after the files, while saving a receipt, and with a tier down: every re-run continues; the end state is complete', async () => {
    const d = w.s.offboarding.deps;
    const keyName = (await d.directory.getMeta('acme'))!.keyName;
    const faults = new Set(['key', 'store', 'files', 'receipt', 'tier']);
    const keys = overriding<KeyProvider>(d.keys, 'destroyKey', async (name: string) => {
      const r = await d.keys.destroyKey(name);
      if (faults.delete('key')) throw crash('after destroying the key, before recording it');
      return r;
    });
    const directory = overriding<TenantDirectory>(d.directory, 'destroy', async (id: string) => {
      if (faults.delete('store')) throw crash('before removing the store');
      return d.directory.destroy(id);
    });
    const blobs = overriding<BlobStoreFactory>(d.blobs, 'deleteTenant', async (id: string) => {
      await d.blobs.deleteTenant(id);
      if (faults.delete('files')) throw crash('after removing the files');
    });
    const receipts = overriding<ReceiptStore>(d.receipts, 'put', async (r: DeletionReceipt) => {
      if (r.steps.tiers['own-cloud'] && faults.delete('receipt')) throw crash('while writing the receipt after a tier');
      return d.receipts.put(r);
    });
    const [first, ...others] = d.targets;
    const flaky = overriding<BackupTarget>(first!, 'list', (prefix: string) => {
      if (prefix.startsWith('tenants/') && faults.delete('tier')) throw new Error('tier unreachable');
      return first!.list(prefix);
    });
    const shredder = new TenantOffboarding({ ...d, keys, directory, blobs, receipts, targets: [flaky, ...others] });

    const seen: string[] = [];
    for (let run = 0; run < 10; run++) {
      const r = await shredder.shredDue(req).catch((e: Error) => e);
      if (r instanceof Error) {
        seen.push(r.message);
        // Between runs the tenant is never served (410 while its store is there, then like an
        // unknown tenant: a sign-in answers as for a wrong password) and its receipt says shredding.
        const [receipt] = await d.receipts.list('acme');
        expect(receipt?.status).toBe('shredding');
        expect(
          (await rejectionOf(w.s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: 'x' }))) as AppError,
        ).toMatchObject({
          code: expect.stringMatching(/^(gone|unauthenticated)$/),
        });
        continue;
      }
      if (r.length === 1 && r[0]!.status === 'complete') break;
      seen.push(`run ${run}: ${JSON.stringify(r)}`);
    }
    expect(faults.size).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    const [receipt, ...more] = await w.s.offboarding.receipts('acme');
    expect(more).toEqual([]);
    expect(receipt).toMatchObject({
      status: 'complete',
      keyName,
      steps: { key: { outcome: 'absent' }, store: { outcome: 'removed' }, files: { outcome: 'removed' } },
      copies: { 'own-cloud': 'written', 'eu-cloud': 'written', azure: 'written' },
    });
    for (const t of Object.values(receipt!.steps.tiers)) expect(t.outcome).toBe('deleted');
    expect(existsSync(join(w.dir, 'keys', `${keyName}.json`))).toBe(false);
    expect(existsSync(join(w.dir, 'tenants', 'acme'))).toBe(false);
    for (const tier of ['own-cloud', 'eu-cloud', 'azure']) expect(tierKeys(join(w.dir, 'backups', tier), 'tenants/acme/')).toEqual([]);
    expect(filesContaining(w.dir, acme.marks)).toEqual([]);
    // Nothing more to do.
    expect(await w.s.offboarding.shredDue(req)).toEqual([]);
  });

  it('a write-once tier: its refusals are retained (until its immutability period ends), the escrow objects among them named; the receipt is complete', async () => {
    const d = w.s.offboarding.deps;
    const [first, ...others] = d.targets;
    const worm = overriding<BackupTarget>(first!, 'delete', async (key: string) => {
      const e = new Error(`Backup target ${first!.name}: delete failed (HTTP 409, BlobImmutableDueToPolicy)`);
      e.name = 'BackupTargetError';
      void key;
      throw e;
    });
    const shredder = new TenantOffboarding({ ...d, targets: [worm, ...others] });
    const [r] = await shredder.shredDue(req);
    expect(r).toMatchObject({ tenant: 'acme', status: 'complete', retainedTiers: ['own-cloud'], failedTiers: [] });
    const [receipt] = await d.receipts.list('acme');
    const t = receipt!.steps.tiers['own-cloud']!;
    expect(t).toMatchObject({ outcome: 'retained', deleted: 0, escrowRetained: 1 });
    expect(t.retained).toBe(t.objects);
    expect(Date.parse(t.retainedNewest!)).toBeGreaterThan(0);
    expect(t.detail).toMatch(/write-once.*unreadable without the destroyed key.*recovery private key/);
    // The retained segments: the service cannot restore them.
    const e = await rejectionOf(w.s.backups.restore(op, { tenant: 'acme', target: first!, asOf: w.clock.now(), into: 'acme-back' }, req));
    expect(e).toBeInstanceOf(Error);
    expect(await d.directory.getMeta('acme-back')).toBeUndefined();
    expect(await rejectionOf(w.s.offboarding.assertRestorable('acme'))).toMatchObject({ code: 'gone' });
  });
});
