/**
 * KeyProvider.destroyKey (tenant offboarding, crypto-shredding) on every provider: the local
 * key files, and Key Vault through the real @azure/keyvault-keys SDK against the stand-in,
 * with and without purge protection.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { KeyVaultKeyProvider } from '../../shared/adapters/keyvault/keyvault-key-provider';
import type { KeyProvider } from '../../shared/ports/key-provider';
import { type KeyVaultStandIn, startKeyVaultStandIn } from '../support/keyvault-standin';
import { rejectionOf } from '../support/rejection';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function local(): Promise<{ kp: LocalKeyProvider; dir: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keys-destroy-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return { kp: new LocalKeyProvider({ dir: path.join(dir, 'keys'), masterKey: randomBytes(32) }), dir: path.join(dir, 'keys') };
}

async function vault(purgeProtection: boolean): Promise<{ kp: KeyVaultKeyProvider; kv: KeyVaultStandIn }> {
  const kv = await startKeyVaultStandIn({ purgeProtection });
  cleanups.push(async () => {
    expect(kv.privateKeyMaterialLeaked()).toBe(false);
    await kv.close();
  });
  return { kp: new KeyVaultKeyProvider({ vaultUrl: kv.vaultUrl, credential: kv.credential, clientOptions: kv.clientOptions }), kv };
}

/** Two versions, a key wrapped by each; returns them. */
async function twoVersions(kp: KeyProvider, name: string) {
  await kp.createKey(name);
  const dek1 = randomBytes(32);
  const w1 = await kp.wrapKey(name, dek1);
  await kp.rotateKey(name);
  const w2 = await kp.wrapKey(name, randomBytes(32));
  expect(w1.keyId).not.toBe(w2.keyId);
  // Both still unwrap before the destruction (so the failures below are the destruction's doing).
  expect(Buffer.from(await kp.unwrapKey(name, w1)).equals(dek1)).toBe(true);
  return [w1, w2] as const;
}

describe.each([
  ['LocalKeyProvider', async () => (await local()).kp, 'destroyed'],
  ['KeyVaultKeyProvider (real SDK, stand-in, purge allowed)', async () => (await vault(false)).kp, 'purged'],
] as const)('destroyKey: %s', (_name, make, expected) => {
  it('destroys every version: nothing wrapped by any of them unwraps; a second call answers absent; the name is free again', async () => {
    const kp = await make();
    const wrapped = await twoVersions(kp, 'tenant-gone-0a1b2c3d');
    await kp.createKey('tenant-stays-0a1b2c3d');
    const kept = await kp.wrapKey('tenant-stays-0a1b2c3d', randomBytes(32));
    const d = await kp.destroyKey('tenant-gone-0a1b2c3d');
    expect(d).toMatchObject({ outcome: expected, versions: 2 });
    expect(d.detail).not.toMatch(/[A-Za-z0-9+/]{40,}/); // no key material in the receipt text
    for (const w of wrapped) {
      const e = await rejectionOf(kp.unwrapKey('tenant-gone-0a1b2c3d', w));
      expect((e as { code?: string }).code).toBe('not_found');
    }
    await expect(kp.wrapKey('tenant-gone-0a1b2c3d', randomBytes(32))).rejects.toMatchObject({ code: 'not_found' });
    expect(await kp.destroyKey('tenant-gone-0a1b2c3d')).toMatchObject({ outcome: 'absent', versions: 0 });
    // Another tenant's key is untouched.
    expect((await kp.unwrapKey('tenant-stays-0a1b2c3d', kept)).length).toBe(32);
    await expect(kp.createKey('tenant-gone-0a1b2c3d')).resolves.toBeTruthy();
  });

  it('refuses an aborted signal and destroys nothing', async () => {
    const kp = await make();
    const [w1] = await twoVersions(kp, 'tenant-abort-0a1b2c3d');
    const ac = new AbortController();
    ac.abort();
    const e = await rejectionOf(kp.destroyKey('tenant-abort-0a1b2c3d', { abortSignal: ac.signal }));
    expect((e as Error).name).toBe('AbortError');
    expect((await kp.unwrapKey('tenant-abort-0a1b2c3d', w1)).length).toBe(32);
  });
});

describe('destroyKey specifics', () => {
  it('local: the key file is overwritten before it is unlinked, and nothing is left in the folder', async () => {
    const { kp, dir } = await local();
    await twoVersions(kp, 'tenant-file-0a1b2c3d');
    const file = path.join(dir, 'tenant-file-0a1b2c3d.json');
    const before = await fs.readFile(file, 'utf8');
    // Keep a hard link: it shows the bytes of the inode after the destruction's overwrite.
    const witness = path.join(path.dirname(dir), 'witness');
    await fs.link(file, witness);
    await kp.destroyKey('tenant-file-0a1b2c3d');
    expect(await fs.readdir(dir)).toEqual([]);
    const after = await fs.readFile(witness);
    expect(after.length).toBe(Buffer.byteLength(before));
    expect(after.toString('latin1')).not.toContain('"versions"');
    expect(after.toString('latin1')).not.toContain(JSON.parse(before).versions[0].key);
  });

  it('Key Vault with purge protection: deleted, the purge refused; unusable, reported recoverable until the scheduled purge; a re-run says the same', async () => {
    const { kp, kv } = await vault(true);
    const wrapped = await twoVersions(kp, 'tenant-pp-0a1b2c3d');
    const d = await kp.destroyKey('tenant-pp-0a1b2c3d');
    expect(d.outcome).toBe('deleted');
    expect(d.versions).toBe(2);
    expect(Date.parse(d.recoverableUntil ?? '')).toBeGreaterThan(Date.now() + 80 * 86_400_000);
    expect(d.detail).toMatch(/purge protection/);
    expect(kv.deletedKeys()).toEqual(['tenant-pp-0a1b2c3d']);
    expect(kv.keys()['tenant-pp-0a1b2c3d']).toBeUndefined();
    for (const w of wrapped) await expect(kp.unwrapKey('tenant-pp-0a1b2c3d', w)).rejects.toMatchObject({ code: 'not_found' });
    expect(await kp.destroyKey('tenant-pp-0a1b2c3d')).toMatchObject({ outcome: 'deleted', versions: 0 });
    // The SDK calls made: list versions, delete, poll, get deleted, purge (refused).
    const calls = kv.exchanges.filter((x) => x.authorized).map((x) => `${x.method} ${x.path.replace(/[0-9a-f]{32}/g, 'V')}`);
    expect(calls).toContain('DELETE /keys/tenant-pp-0a1b2c3d');
    expect(calls).toContain('DELETE /deletedkeys/tenant-pp-0a1b2c3d');
  });

  it('Key Vault without purge protection: purged; the stand-in holds no version of it any more', async () => {
    const { kp, kv } = await vault(false);
    await twoVersions(kp, 'tenant-purge-0a1b2c3d');
    expect((await kp.destroyKey('tenant-purge-0a1b2c3d')).outcome).toBe('purged');
    expect(kv.holds('tenant-purge-0a1b2c3d')).toBe(false);
  });
});
