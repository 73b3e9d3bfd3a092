import { generateKeyPairSync, randomBytes } from 'node:crypto';
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
  it('a key escrowed by one provider is re-created by another with the recovery key: everything it wrapped unwraps', async () => {
    const source = new LocalKeyProvider({ dir: join(dir, 'src-keys'), masterKey: randomBytes(32) });
    await source.createKey('tenant-acme-1');
    const dataKey1 = randomBytes(32);
    const w1 = await source.wrapKey('tenant-acme-1', dataKey1);
    await source.rotateKey('tenant-acme-1');
    const dataKey2 = randomBytes(32);
    const w2 = await source.wrapKey('tenant-acme-1', dataKey2);

    const escrowed = await source.escrowKey('tenant-acme-1', pub);
    expect(escrowed).toHaveLength(2);
    expect(JSON.stringify(escrowed)).not.toContain(dataKey1.toString('base64'));

    const fresh = new LocalKeyProvider({ dir: join(dir, 'fresh-keys'), masterKey: randomBytes(32) });
    await expect(fresh.importEscrowedKey(escrowed, otherPriv)).rejects.toThrow(/recovery key/);
    const imported = await fresh.importEscrowedKey(escrowed, priv);
    expect(imported.map((k) => k.keyId)).toEqual([w1.keyId, w2.keyId]);
    expect(Buffer.from(await fresh.unwrapKey('tenant-acme-1', w1))).toEqual(dataKey1);
    expect(Buffer.from(await fresh.unwrapKey('tenant-acme-1', w2))).toEqual(dataKey2);
    // Imported once; a second import is a conflict, not an overwrite.
    await expect(fresh.importEscrowedKey(escrowed, priv)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('an escrow object moved to another key id, or altered, does not open', async () => {
    const source = new LocalKeyProvider({ dir: join(dir, 'src2-keys'), masterKey: randomBytes(32) });
    await source.createKey('tenant-a-1');
    await source.createKey('tenant-b-1');
    const [a] = await source.escrowKey('tenant-a-1', pub);
    const [b] = await source.escrowKey('tenant-b-1', pub);
    const fresh = new LocalKeyProvider({ dir: join(dir, 'fresh2-keys'), masterKey: randomBytes(32) });
    // b's ciphertext presented as a's key: the OAEP label binds it to its key id.
    await expect(fresh.importEscrowedKey([{ ...a!, encryptedKey: b!.encryptedKey }], priv)).rejects.toThrow(/could not be decrypted/);
    const flipped = Buffer.from(a!.encryptedKey, 'base64');
    flipped[10]! ^= 1;
    await expect(fresh.importEscrowedKey([{ ...a!, encryptedKey: flipped.toString('base64') }], priv)).rejects.toThrow(
      /could not be decrypted/,
    );
  });

  it('KeyEscrowService writes each key version once per recovery key; readEscrow finds them and refuses other keys', async () => {
    const keys = new LocalKeyProvider({ dir: join(dir, 'svc-keys'), masterKey: randomBytes(32) });
    await keys.createKey('tenant-acme-0000abcd');
    const target = new FolderBackupTarget('own-cloud', join(dir, 'tier'));
    const svc = new KeyEscrowService({ escrow: keys, recipient: pub, keyNameOf: async () => 'tenant-acme-0000abcd' });
    expect(await svc.escrowTenant('acme', target)).toBe(1);
    expect(await svc.escrowTenant('acme', target)).toBe(0);
    await keys.rotateKey('tenant-acme-0000abcd');
    expect(await svc.escrowTenant('acme', target)).toBe(1);
    const found = await readEscrow('acme', target, priv);
    expect([...found.keys()]).toEqual(['tenant-acme-0000abcd']);
    expect(found.get('tenant-acme-0000abcd')).toHaveLength(2);
    await expect(readEscrow('acme', target, otherPriv)).rejects.toThrow(/another recovery key/);
    await expect(readEscrow('globex', target, priv)).rejects.toMatchObject({ code: 'not_found' });
    // An escrow object of another tenant's key placed under this tenant is refused.
    const foreign = new KeyEscrowService({ escrow: keys, recipient: pub, keyNameOf: async () => 'tenant-acme-0000abcd' });
    await foreign.escrowTenant('initech', target);
    await expect(readEscrow('initech', target, priv)).rejects.toMatchObject({ code: 'unprocessable' });
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
