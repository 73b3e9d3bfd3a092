import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import { LocalKeyProvider, loadOrCreateMasterKey } from '../../shared/adapters/embedded/local-key-provider';
import { KeyVaultKeyProvider } from '../../shared/adapters/keyvault/keyvault-key-provider';
import { keyProviderContract } from '../contracts/key-provider.contract';
import { abortedSignal, expectAborted } from '../contracts/abort';
import { foreignKeyMessage } from '../../shared/ports/key-provider';
import { startKeyVaultStandIn } from '../support/keyvault-standin';
import type { KeyVaultStandIn } from '../support/keyvault-standin';

const tempDir = () => fs.mkdtemp(path.join(os.tmpdir(), 'keys-'));
const modeOf = async (p: string) => (await fs.stat(p)).mode & 0o777;
const posix = process.platform !== 'win32';

keyProviderContract('LocalKeyProvider', async () => {
  const dir = await tempDir();
  const provider = new LocalKeyProvider({ dir: path.join(dir, 'keys'), masterKey: randomBytes(32) });
  return { provider, cleanup: () => fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }) };
});

keyProviderContract('KeyVaultKeyProvider (real SDK against the stand-in)', async () => {
  const kv = await startKeyVaultStandIn();
  const provider = new KeyVaultKeyProvider({ vaultUrl: kv.vaultUrl, credential: kv.credential, clientOptions: kv.clientOptions });
  return {
    provider,
    cleanup: async () => {
      // Whatever the contract did, the private keys stayed inside the stand-in.
      expect(kv.privateKeyMaterialLeaked()).toBe(false);
      await kv.close();
    },
  };
});

describe('LocalKeyProvider (local only)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('KeyEscrow: an already-aborted signal is refused by escrowKey and importEscrowedKey, and no key file is written', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const source = new LocalKeyProvider({ dir: path.join(dir, 'src'), masterKey: randomBytes(32) });
    await source.createKey('tenant-esc');
    const abortSignal = abortedSignal();
    await expectAborted(source.escrowKey('tenant-esc', publicKey, { abortSignal }));
    const escrowed = await source.escrowKey('tenant-esc', publicKey);
    const target = new LocalKeyProvider({ dir: path.join(dir, 'dst'), masterKey: randomBytes(32) });
    await expectAborted(target.importEscrowedKey(escrowed.versions, privateKey, { abortSignal, escrowKeys: [escrowed.escrowKey] }));
    await expect(fs.readdir(path.join(dir, 'dst'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await target.importEscrowedKey(escrowed.versions, privateKey, { escrowKeys: [escrowed.escrowKey] })).toHaveLength(1);
  });

  it.runIf(posix)('creates the master key and KEK files with mode 0600 in 0700 folders', async () => {
    const dataDir = path.join(dir, 'data');
    const master = await loadOrCreateMasterKey(dataDir);
    expect(master.length).toBe(32);
    expect(await modeOf(dataDir)).toBe(0o700);
    expect(await modeOf(path.join(dataDir, 'master.key'))).toBe(0o600);
    expect((await fs.readFile(path.join(dataDir, 'master.key'))).equals(master)).toBe(true);

    const keysDir = path.join(dataDir, 'keys');
    const kp = new LocalKeyProvider({ dir: keysDir, masterKey: master });
    await kp.createKey('tenant-a');
    await kp.rotateKey('tenant-a');
    expect(await modeOf(keysDir)).toBe(0o700);
    expect(await modeOf(path.join(keysDir, 'tenant-a.json'))).toBe(0o600);
    // No temp files are left behind.
    expect(await fs.readdir(keysDir)).toEqual(['tenant-a.json']);
  });

  it('loads the same master key again, and concurrent first calls agree', async () => {
    const dataDir = path.join(dir, 'data');
    const [a, b, c] = await Promise.all([loadOrCreateMasterKey(dataDir), loadOrCreateMasterKey(dataDir), loadOrCreateMasterKey(dataDir)]);
    expect(a!.equals(b!)).toBe(true);
    expect(a!.equals(c!)).toBe(true);
    expect((await loadOrCreateMasterKey(dataDir)).equals(a!)).toBe(true);
  });

  it('rejects a damaged master key file', async () => {
    await fs.writeFile(path.join(dir, 'master.key'), randomBytes(31));
    await expect(loadOrCreateMasterKey(dir)).rejects.toThrow(/32 bytes/);
  });

  it('accepts LOCAL_MASTER_KEY as hex or base64 and never touches the disk then', async () => {
    const key = randomBytes(32);
    const dataDir = path.join(dir, 'unused');
    expect((await loadOrCreateMasterKey(dataDir, key.toString('hex'))).equals(key)).toBe(true);
    expect((await loadOrCreateMasterKey(dataDir, key.toString('hex').toUpperCase())).equals(key)).toBe(true);
    expect((await loadOrCreateMasterKey(dataDir, key.toString('base64'))).equals(key)).toBe(true);
    expect((await loadOrCreateMasterKey(dataDir, key.toString('base64url'))).equals(key)).toBe(true);
    expect((await loadOrCreateMasterKey(dataDir, ` ${key.toString('base64')}\n`)).equals(key)).toBe(true);
    await expect(fs.stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a bad LOCAL_MASTER_KEY without echoing it', async () => {
    const bad = [
      randomBytes(31).toString('hex'),
      randomBytes(33).toString('hex'),
      randomBytes(16).toString('base64'),
      randomBytes(48).toString('base64'),
      'correct-horse-battery-staple-secret-passphrase',
      `zz${randomBytes(31).toString('hex')}`,
    ];
    for (const value of bad) {
      const err = await loadOrCreateMasterKey(dir, value).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, value.length.toString()).toBeInstanceOf(Error);
      const e = err as Error;
      expect(e.message).toContain('LOCAL_MASTER_KEY');
      expect(e.message).not.toContain(value);
      expect(e.message).not.toContain(value.slice(0, 12));
      expect(String(e.stack)).not.toContain(value);
    }
    // Nothing was created on disk for a rejected key.
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('rotateKey: old versions still unwrap, new wraps use the new version', async () => {
    const kp = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    const v1 = await kp.createKey('tenant-r');
    const dek1 = randomBytes(32);
    const w1 = await kp.wrapKey('tenant-r', dek1);
    expect(w1.keyId).toBe(v1.keyId);

    const v2 = await kp.rotateKey('tenant-r');
    expect(v2.keyId).not.toBe(v1.keyId);
    expect(v2.keyId).toMatch(/^local:tenant-r\/[0-9a-f]{16}$/);
    const dek2 = randomBytes(32);
    const w2 = await kp.wrapKey('tenant-r', dek2);
    expect(w2.keyId).toBe(v2.keyId);

    expect(Buffer.from(await kp.unwrapKey('tenant-r', w1)).equals(dek1)).toBe(true);
    expect(Buffer.from(await kp.unwrapKey('tenant-r', w2)).equals(dek2)).toBe(true);
    // A data key wrapped with v1 does not open with v2.
    await expect(kp.unwrapKey('tenant-r', { ...w1, keyId: v2.keyId })).rejects.toMatchObject({ name: 'KeyUnwrapError' });

    const doc = JSON.parse(await fs.readFile(path.join(dir, 'tenant-r.json'), 'utf8')) as { name: string; versions: { version: string }[] };
    expect(doc.name).toBe('tenant-r');
    expect(doc.versions.map((v) => `local:tenant-r/${v.version}`)).toEqual([v1.keyId, v2.keyId]);

    const missing = `local:tenant-r/${'0'.repeat(16)}`;
    const err = await kp.unwrapKey('tenant-r', { ...w1, keyId: missing }).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('not_found');
    await expect(kp.rotateKey('tenant-nope')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('concurrent rotations all land (no lost update)', async () => {
    const kp = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    await kp.createKey('tenant-c');
    const ids = await Promise.all(Array.from({ length: 5 }, () => kp.rotateKey('tenant-c')));
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'tenant-c.json'), 'utf8')) as { versions: unknown[] };
    expect(doc.versions).toHaveLength(6);
    expect(new Set(ids.map((i) => i.keyId)).size).toBe(5);
  });

  it('concurrent createKey of one name: exactly one wins, the others get conflict', async () => {
    const kp = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => kp.createKey('tenant-race')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(isAppError(r.reason) && r.reason.code).toBe('conflict');
    expect(await fs.readdir(dir)).toEqual(['tenant-race.json']);
  });

  it('a wrong master key cannot unwrap (or wrap)', async () => {
    const right = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    await right.createKey('tenant-m');
    const dek = randomBytes(32);
    const w = await right.wrapKey('tenant-m', dek);
    const wrong = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    const err = await wrong.unwrapKey('tenant-m', w).catch((e: unknown) => e);
    expect((err as Error).name).toBe('KeyUnwrapError');
    expect((err as Error).message).not.toContain(dek.toString('base64'));
    await expect(wrong.wrapKey('tenant-m', randomBytes(32))).rejects.toMatchObject({ name: 'KeyUnwrapError' });
  });

  it('a KEK file copied to another name does not open there (AAD binds name and version)', async () => {
    const kp = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    await kp.createKey('tenant-x');
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'tenant-x.json'), 'utf8')) as { name: string };
    await fs.writeFile(path.join(dir, 'tenant-y.json'), JSON.stringify({ ...doc, name: 'tenant-y' }), { mode: 0o600 });
    await expect(kp.wrapKey('tenant-y', randomBytes(32))).rejects.toMatchObject({ name: 'KeyUnwrapError' });
  });

  it('rejects data keys A256KW cannot wrap', async () => {
    const kp = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    await kp.createKey('tenant-s');
    for (const n of [0, 8, 31]) await expect(kp.wrapKey('tenant-s', randomBytes(n))).rejects.toMatchObject({ code: 'validation' });
  });

  it('the KEK file holds neither the master key nor a plain KEK', async () => {
    const master = randomBytes(32);
    const kp = new LocalKeyProvider({ dir, masterKey: master });
    await kp.createKey('tenant-f');
    const text = await fs.readFile(path.join(dir, 'tenant-f.json'), 'utf8');
    for (const enc of ['base64', 'hex'] as const) expect(text).not.toContain(master.toString(enc));
    const doc = JSON.parse(text) as { versions: { key: string }[] };
    // iv(12) ‖ ciphertext(32) ‖ tag(16)
    expect(Buffer.from(doc.versions[0]!.key, 'base64')).toHaveLength(60);
  });
});

describe('KeyVaultKeyProvider against the stand-in (Key Vault only)', () => {
  let kv: KeyVaultStandIn;
  let kp: KeyVaultKeyProvider;
  beforeEach(async () => {
    kv = await startKeyVaultStandIn();
    kp = new KeyVaultKeyProvider({ vaultUrl: kv.vaultUrl, credential: kv.credential, clientOptions: kv.clientOptions });
  });
  afterEach(async () => {
    await kv.close();
  });

  it('creates RSA-3072 wrap/unwrap-only keys, authenticates by challenge, and never sees a private key', async () => {
    const { keyId } = await kp.createKey('tenant-a');
    expect(keyId).toMatch(new RegExp(`^${kv.vaultUrl}/keys/tenant-a/[0-9a-f]{32}$`));
    const dek = randomBytes(32);
    const w = await kp.wrapKey('tenant-a', dek);
    expect(w.algorithm).toBe('RSA-OAEP-256');
    expect(Buffer.from(w.wrapped, 'base64')).toHaveLength(384);
    expect(Buffer.from(await kp.unwrapKey('tenant-a', w)).equals(dek)).toBe(true);

    const create = kv.exchanges.find((x) => x.method === 'POST' && x.path === '/keys/tenant-a/create' && x.authorized);
    expect(JSON.parse(create!.requestBody)).toMatchObject({ kty: 'RSA', key_size: 3072, key_ops: ['wrapKey', 'unwrapKey'] });
    // Every answered (non-challenge) request carried the token; the challenge asked for the vault scope.
    for (const x of kv.exchanges) expect(x.authorized || x.status === 401).toBe(true);
    expect(kv.exchanges.some((x) => x.status === 401)).toBe(true);
    expect(new Set(kv.tokenScopes)).toEqual(new Set(['https://vault.azure.net/.default']));
    // Wrap and unwrap happened in the vault, with the exact version.
    expect(
      kv.exchanges
        .filter((x) => x.authorized && /^\/keys\/tenant-a\/[0-9a-f]{32}\/(wrapkey|unwrapkey)$/.test(x.path))
        .map((x) => x.path.split('/').pop()),
    ).toEqual(['wrapkey', 'unwrapkey']);
    expect(kv.privateKeyMaterialLeaked()).toBe(false);
    for (const x of kv.exchanges) for (const f of ['"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"']) expect(x.responseBody).not.toContain(f);
    // The plain data key travels only inside the wrapkey request body and the unwrapkey answer, base64url.
    const b64u = dek.toString('base64url');
    const carriers = kv.exchanges
      .filter((x) => x.requestBody.includes(b64u) || x.responseBody.includes(b64u))
      .map((x) => x.path.split('/').pop());
    expect(carriers).toEqual(['wrapkey', 'unwrapkey']);
  });

  it('KEY_VAULT_KEY_TYPE=RSA-HSM: new keys and rotated versions are requested as HSM keys and work the same', async () => {
    const hsm = new KeyVaultKeyProvider({
      vaultUrl: kv.vaultUrl,
      credential: kv.credential,
      clientOptions: kv.clientOptions,
      keyType: 'RSA-HSM',
    });
    await hsm.createKey('tenant-hsm');
    await hsm.rotateKey('tenant-hsm');
    const creates = kv.exchanges.filter((x) => x.method === 'POST' && x.path === '/keys/tenant-hsm/create' && x.authorized);
    expect(creates).toHaveLength(2);
    for (const c of creates)
      expect(JSON.parse(c.requestBody)).toMatchObject({ kty: 'RSA-HSM', key_size: 3072, key_ops: ['wrapKey', 'unwrapKey'] });
    const dek = randomBytes(32);
    const w = await hsm.wrapKey('tenant-hsm', dek);
    expect(Buffer.from(await kp.unwrapKey('tenant-hsm', w)).equals(dek)).toBe(true);
    expect(kv.privateKeyMaterialLeaked()).toBe(false);
  });

  it('unwraps with a provider that has never seen the key (fresh process)', async () => {
    await kp.createKey('tenant-b');
    const dek = randomBytes(32);
    const w = await kp.wrapKey('tenant-b', dek);
    const other = new KeyVaultKeyProvider({ vaultUrl: `${kv.vaultUrl}/`, credential: kv.credential, clientOptions: kv.clientOptions });
    expect(Buffer.from(await other.unwrapKey('tenant-b', w)).equals(dek)).toBe(true);
  });

  it('refuses key ids of another vault without sending anything there', async () => {
    await kp.createKey('tenant-c');
    const w = await kp.wrapKey('tenant-c', randomBytes(32));
    const before = kv.exchanges.length;
    const foreign = [
      w.keyId.replace('127.0.0.1', 'localhost'),
      w.keyId.replace(/^http:/, 'https:'),
      'https://evil.example/keys/tenant-c/0123',
      w.keyId.replace(/\/[0-9a-f]{32}$/, ''),
      `${w.keyId}?x=1`,
      'local:tenant-c/0123456789abcdef',
    ];
    for (const keyId of foreign)
      await expect(kp.unwrapKey('tenant-c', { ...w, keyId }), keyId).rejects.toMatchObject({ name: 'KeyUnwrapError' });
    expect(kv.exchanges.length).toBe(before);
  });

  it("refuses another key's id of this vault — another tenant's, or the same name in another case — without sending anything", async () => {
    await kp.createKey('tenant-f');
    await kp.createKey('tenant-g');
    const w = await kp.wrapKey('tenant-f', randomBytes(32));
    const before = kv.exchanges.length;
    const variants = [
      w.keyId,
      w.keyId.replace('/keys/tenant-f/', '/keys/TENANT-F/'),
      w.keyId.replace('/keys/tenant-f/', '/keys/Tenant-G/'),
    ];
    for (const keyId of variants)
      await expect(kp.unwrapKey('tenant-g', { ...w, keyId }), keyId).rejects.toMatchObject({
        name: 'KeyUnwrapError',
        message: foreignKeyMessage,
      });
    await expect(kp.unwrapKey('tenant-f', { ...w, keyId: variants[1]! })).rejects.toMatchObject({ name: 'KeyUnwrapError' });
    expect(kv.exchanges.length).toBe(before);
  });

  it('after a rollback delete the name stays taken (soft delete) and createKey says conflict', async () => {
    await kp.createKey('tenant-d');
    await kp.deleteKey('tenant-d');
    expect(kv.keys()).toEqual({});
    await expect(kp.createKey('tenant-d')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('errors never carry the SDK request (whose body can hold a plain data key)', async () => {
    await kp.createKey('tenant-e');
    const w = await kp.wrapKey('tenant-e', randomBytes(32));
    const err = (await kp
      .unwrapKey('tenant-e', { ...w, wrapped: Buffer.alloc(384, 7).toString('base64') })
      .catch((e: unknown) => e)) as Error & { request?: unknown; response?: unknown };
    expect(err.name).toBe('KeyUnwrapError');
    expect(err.request).toBeUndefined();
    expect(err.response).toBeUndefined();
  });
});
