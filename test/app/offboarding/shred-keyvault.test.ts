/**
 * Shredding with the tenant's key in Key Vault (the real @azure/keyvault-keys SDK against the
 * stand-in): with purge protection, as infra/ configures the vault, the key is deleted, the
 * purge refused, and the receipt says so — `deleted`, with the date Key Vault purges it — while
 * the rest of the shredding completes; without it, the key is purged. The tenant runs on local
 * keys (its database key must unwrap); the shredder is handed a Key Vault provider holding a key
 * of the same name, which is what it destroys.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyVaultKeyProvider } from '../../../shared/adapters/keyvault/keyvault-key-provider';
import { TenantOffboarding } from '../../../shared/app/offboarding';
import { startKeyVaultStandIn } from '../../support/keyvault-standin';
import { offboardWorld, type OffboardWorld, op, req, seedTenant } from './support';

const DAY = 86_400_000;

describe.each([true, false])('shredding with Key Vault (purge protection: %s)', (purgeProtection) => {
  let w: OffboardWorld;
  beforeEach(async () => {
    w = await offboardWorld();
    await seedTenant(w.s, 'acme');
  }, 120_000);
  afterEach(async () => {
    await w.close();
  });

  it('destroys every version in the vault; the receipt records what the vault allowed', async () => {
    const kv = await startKeyVaultStandIn({ purgeProtection });
    try {
      const vault = new KeyVaultKeyProvider({ vaultUrl: kv.vaultUrl, credential: kv.credential, clientOptions: kv.clientOptions });
      const keyName = (await w.s.directory.getMeta('acme'))!.keyName;
      await vault.createKey(keyName);
      await vault.rotateKey(keyName);
      const wrapped = await vault.wrapKey(keyName, randomBytes(32));
      await w.s.offboarding.scheduleDeletion('acme', op, req);
      w.clock.t += 14 * DAY;
      const shredder = new TenantOffboarding({ ...w.s.offboarding.deps, keys: vault });
      const [r] = await shredder.shredDue(req);
      expect(r).toMatchObject({ tenant: 'acme', status: 'complete' });
      const [receipt] = await shredder.receipts('acme');
      if (purgeProtection) {
        expect(receipt!.steps.key).toMatchObject({ outcome: 'deleted', versions: 2 });
        expect(Date.parse(receipt!.steps.key!.recoverableUntil!)).toBeGreaterThan(w.clock.t);
        expect(receipt!.steps.key!.detail).toMatch(/purge protection/);
        expect(kv.deletedKeys()).toEqual([keyName]);
      } else {
        expect(receipt!.steps.key).toMatchObject({ outcome: 'purged', versions: 2 });
        expect(kv.holds(keyName)).toBe(false);
      }
      // Either way the vault unwraps nothing for it any more.
      await expect(vault.unwrapKey(keyName, wrapped)).rejects.toMatchObject({ code: 'not_found' });
      expect(kv.privateKeyMaterialLeaked()).toBe(false);
    } finally {
      await kv.close();
    }
  });
});
