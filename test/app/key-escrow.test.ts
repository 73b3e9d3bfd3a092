import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { KeyEscrowService, readEscrow } from '../../shared/app/recovery/key-escrow';
import {
  generateRecoveryKeyPair,
  loadRecoveryPrivateKey,
  loadRecoveryPublicKey,
  recoveryFingerprint,
} from '../../shared/app/recovery/recovery-key';
import { writeFileDurably } from '../../shared/adapters/durable-files';
import type { KeyObject } from 'node:crypto';
import { writeOnce } from './offboarding/support';

const dir = mkdtempSync(join(tmpdir(), 'escrow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let pub: KeyObject;
let priv: KeyObject;
let otherPriv: KeyObject;
beforeAll(async () => {
  const pair = await generateRecoveryKeyPair('a passphrase for the test');
  await writeFileDurably(join(dir, 'recovery-private.pem'), pair.privateKeyPem);
  pub = await loadRecoveryPublicKey(pair.publicKeyPem);
  priv = await loadRecoveryPrivateKey(join(dir, 'recovery-private.pem'), 'a passphrase for the test');
  expect(recoveryFingerprint(priv)).toBe(pair.fingerprint);
  const other = await generateRecoveryKeyPair();
  await writeFileDurably(join(dir, 'other-private.pem'), other.privateKeyPem);
  otherPriv = await loadRecoveryPrivateKey(join(dir, 'other-private.pem'));
}, 60_000);

describe('key escrow', () => {
  it('a key escrowed by one provider is re-created by another with the recovery key and the escrow key: everything it wrapped unwraps', async () => {
    const source = new LocalKeyProvider({ dir: join(dir, 'src-keys'), masterKey: randomBytes(32) });
    await source.createKey('tenant-acme-1');
    const dataKey1 = randomBytes(32);
    const w1 = await source.wrapKey('tenant-acme-1', dataKey1);
    await source.rotateKey('tenant-acme-1');
    const dataKey2 = randomBytes(32);
    const w2 = await source.wrapKey('tenant-acme-1', dataKey2);

    const escrowed = await source.escrowKey('tenant-acme-1', pub);
    expect(escrowed.versions).toHaveLength(2);
    expect(escrowed.versions.map((v) => v.format)).toEqual(['tenant-ledger-key-escrow/2', 'tenant-ledger-key-escrow/2']);
    expect(escrowed.escrowKey).toMatchObject({
      format: 'tenant-ledger-escrow-key/1',
      keyName: 'tenant-acme-1',
      recipient: recoveryFingerprint(pub),
    });
    expect(JSON.stringify(escrowed)).not.toContain(dataKey1.toString('base64'));
    // The escrow key is the same on every call (derived from the key), its RSA envelope is not.
    const again = await source.escrowKey('tenant-acme-1', pub);
    expect(again.escrowKey.encryptedKey).not.toBe(escrowed.escrowKey.encryptedKey);

    const fresh = new LocalKeyProvider({ dir: join(dir, 'fresh-keys'), masterKey: randomBytes(32) });
    // The sealed versions alone open for nobody, the recovery key holder included.
    await expect(fresh.importEscrowedKey(escrowed.versions, priv)).rejects.toThrow(/No escrow key of "tenant-acme-1"/);
    await expect(fresh.importEscrowedKey(escrowed.versions, otherPriv, { escrowKeys: [escrowed.escrowKey] })).rejects.toThrow(
      /No escrow key .* for this recovery key/,
    );
    // Another call's envelope of the same escrow key opens the same versions.
    const imported = await fresh.importEscrowedKey(escrowed.versions, priv, { escrowKeys: [again.escrowKey] });
    expect(imported.map((k) => k.keyId)).toEqual([w1.keyId, w2.keyId]);
    expect(Buffer.from(await fresh.unwrapKey('tenant-acme-1', w1))).toEqual(dataKey1);
    expect(Buffer.from(await fresh.unwrapKey('tenant-acme-1', w2))).toEqual(dataKey2);
    // Imported once; a second import is a conflict, not an overwrite.
    await expect(fresh.importEscrowedKey(escrowed.versions, priv, { escrowKeys: [escrowed.escrowKey] })).rejects.toMatchObject({
      code: 'conflict',
    });
    // The imported key escrows under the same escrow key (derived from its first version).
    const reEscrowed = await fresh.escrowKey('tenant-acme-1', pub);
    const third = new LocalKeyProvider({ dir: join(dir, 'third-keys'), masterKey: randomBytes(32) });
    expect(await third.importEscrowedKey(escrowed.versions, priv, { escrowKeys: [reEscrowed.escrowKey] })).toHaveLength(2);
  });

  it('a legacy /1 escrow object (a key version encrypted directly to the recovery key) still imports', async () => {
    const kek = randomBytes(32);
    const name = 'tenant-legacy-1';
    const version = '00112233aabbccdd';
    const keyId = `local:${name}/${version}`;
    const encryptedKey = publicEncrypt(
      {
        key: pub,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from(`tenant-ledger-key-escrow:${keyId}`),
      },
      kek,
    ).toString('base64');
    const legacy = {
      format: 'tenant-ledger-key-escrow/1' as const,
      keyName: name,
      version,
      keyId,
      createdAt: '2026-01-01T00:00:00.000Z',
      recipient: recoveryFingerprint(pub),
      algorithm: 'RSA-OAEP-256' as const,
      encryptedKey,
    };
    const fresh = new LocalKeyProvider({ dir: join(dir, 'legacy-keys'), masterKey: randomBytes(32) });
    await expect(fresh.importEscrowedKey([legacy], otherPriv)).rejects.toThrow(/another recovery key/);
    expect(await fresh.importEscrowedKey([legacy], priv)).toEqual([{ keyId }]);
    // What the imported key wraps is A256KW under exactly that key.
    const data = randomBytes(32);
    const c = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    const wrapped = Buffer.concat([c.update(data), c.final()]).toString('base64');
    const w = await fresh.wrapKey(name, data);
    expect(Buffer.from(await fresh.unwrapKey(name, { ...w, wrapped }))).toEqual(data);
  });

  it('a sealed version moved to another key id, or altered, and an escrow key of another key, do not open', async () => {
    const source = new LocalKeyProvider({ dir: join(dir, 'src2-keys'), masterKey: randomBytes(32) });
    await source.createKey('tenant-a-1');
    await source.createKey('tenant-b-1');
    const a = await source.escrowKey('tenant-a-1', pub);
    const b = await source.escrowKey('tenant-b-1', pub);
    const fresh = new LocalKeyProvider({ dir: join(dir, 'fresh2-keys'), masterKey: randomBytes(32) });
    const [av] = a.versions;
    const [bv] = b.versions;
    // b's sealed key presented as a's: the associated data binds it to its key id, and a's escrow key is not b's.
    await expect(fresh.importEscrowedKey([{ ...av!, sealedKey: bv!.sealedKey }], priv, { escrowKeys: [a.escrowKey] })).rejects.toThrow(
      /does not open/,
    );
    // b's escrow key relabelled as a's: the OAEP label binds it to its key name.
    await expect(fresh.importEscrowedKey(a.versions, priv, { escrowKeys: [{ ...b.escrowKey, keyName: 'tenant-a-1' }] })).rejects.toThrow(
      /could not be decrypted/,
    );
    const flipped = Buffer.from(av!.sealedKey, 'base64');
    flipped[20]! ^= 1;
    await expect(
      fresh.importEscrowedKey([{ ...av!, sealedKey: flipped.toString('base64') }], priv, { escrowKeys: [a.escrowKey] }),
    ).rejects.toThrow(/does not open/);
    // Nothing was imported by the failed attempts.
    await expect(fresh.wrapKey('tenant-a-1', randomBytes(32))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('KeyEscrowService writes each sealed version once and the escrow key once per recovery key; readEscrow finds them and refuses other keys', async () => {
    const keys = new LocalKeyProvider({ dir: join(dir, 'svc-keys'), masterKey: randomBytes(32) });
    await keys.createKey('tenant-acme-0000abcd');
    const target = new FolderBackupTarget('own-cloud', join(dir, 'tier'));
    // A legacy /1 object from an earlier version on the tier: removed once the tier holds the escrow key.
    const legacyAt = 'tenants/acme/escrow/tenant-acme-0000abcd/0000000000000000-0000000000000000.json';
    await target.put(legacyAt, Buffer.from('{}'));
    const svc = new KeyEscrowService({ escrow: keys, recipient: pub, keyNameOf: async () => 'tenant-acme-0000abcd' });
    expect(await svc.escrowTenant('acme', target)).toBe(2);
    expect(await target.get(legacyAt)).toBeUndefined();
    expect(await svc.escrowTenant('acme', target)).toBe(0);
    await keys.rotateKey('tenant-acme-0000abcd');
    expect(await svc.escrowTenant('acme', target)).toBe(1);
    const found = await readEscrow('acme', target, priv);
    expect([...found.keys()]).toEqual(['tenant-acme-0000abcd']);
    expect(found.get('tenant-acme-0000abcd')!.versions).toHaveLength(2);
    expect(found.get('tenant-acme-0000abcd')!.escrowKeys).toHaveLength(1);
    await expect(readEscrow('acme', target, otherPriv)).rejects.toThrow(/another recovery key/);
    await expect(readEscrow('globex', target, priv)).rejects.toMatchObject({ code: 'not_found' });
    // An escrow object of another tenant's key placed under this tenant is refused.
    const foreign = new KeyEscrowService({ escrow: keys, recipient: pub, keyNameOf: async () => 'tenant-acme-0000abcd' });
    await foreign.escrowTenant('initech', target);
    await expect(readEscrow('initech', target, priv)).rejects.toMatchObject({ code: 'unprocessable' });
  });

  it('a write-once tier gets the sealed versions but never the escrow key: recovery from it reads the escrow key from a tier that allows deletion', async () => {
    const keys = new LocalKeyProvider({ dir: join(dir, 'worm-keys'), masterKey: randomBytes(32) });
    await keys.createKey('tenant-acme-0000beef');
    const data = randomBytes(32);
    const wrapped = await keys.wrapKey('tenant-acme-0000beef', data);
    const mutable = new FolderBackupTarget('own-cloud', join(dir, 'worm-case-mutable'));
    const worm = writeOnce(new FolderBackupTarget('azure', join(dir, 'worm-case-worm')));
    const logs: string[] = [];
    const svc = new KeyEscrowService({
      escrow: keys,
      recipient: pub,
      keyNameOf: async () => 'tenant-acme-0000beef',
      log: (m) => logs.push(m),
    });
    expect(await svc.escrowTenant('acme', worm)).toBe(1);
    expect(await svc.escrowTenant('acme', worm)).toBe(0);
    expect(logs.filter((l) => /azure refuses deletion/.test(l))).toHaveLength(1);
    const wormKeys: string[] = [];
    for await (const o of worm.list('tenants/acme/')) wormKeys.push(o.key);
    expect(wormKeys).toEqual(['tenants/acme/escrow/tenant-acme-0000beef/' + wormKeys[0]!.split('/').pop()]);
    expect(wormKeys[0]).toMatch(/\.sealed\.json$/);
    await expect(readEscrow('acme', worm, priv)).rejects.toThrow(/sealed under an escrow key that no reachable tier holds/);

    expect(await svc.escrowTenant('acme', mutable)).toBe(2);
    const found = await readEscrow('acme', worm, priv, [mutable]);
    const e = found.get('tenant-acme-0000beef')!;
    expect(e.escrowKeys).toHaveLength(1);
    const fresh = new LocalKeyProvider({ dir: join(dir, 'worm-fresh-keys'), masterKey: randomBytes(32) });
    await fresh.importEscrowedKey(e.versions, priv, { escrowKeys: e.escrowKeys });
    expect(Buffer.from(await fresh.unwrapKey('tenant-acme-0000beef', wrapped))).toEqual(data);

    // Shredding: the key destroyed, the escrow key deleted where it was (the mutable tier).
    await keys.destroyKey('tenant-acme-0000beef');
    for await (const o of mutable.list('tenants/acme/escrow-key/')) await mutable.delete(o.key);
    await expect(readEscrow('acme', worm, priv, [mutable])).rejects.toThrow(/no reachable tier holds/);
    // Even the escrow key object of before (a copy someone kept) is the only thing that would open them:
    // the service cannot make it again.
    await expect(keys.escrowKey('tenant-acme-0000beef', pub)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('recovery keys must be RSA ≥ 3072 bits; a wrong passphrase is refused without echoing anything', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expect(loadRecoveryPublicKey(small.publicKey.export({ type: 'spki', format: 'pem' }).toString())).rejects.toThrow(
      /at least 3072 bits/,
    );
    await expect(loadRecoveryPrivateKey(join(dir, 'recovery-private.pem'), 'wrong')).rejects.toThrow(/wrong or missing passphrase/);
    await expect(loadRecoveryPublicKey('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n')).rejects.toThrow(
      /not a PEM public key/,
    );
  });
});
