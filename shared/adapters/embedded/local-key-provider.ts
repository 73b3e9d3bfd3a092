/**
 * Local KeyProvider: tenant KEKs kept under the data folder, each encrypted at rest with a
 * master key (AES-256-GCM), data keys wrapped with A256KW (RFC 3394).
 *
 * Layout: `<dir>/<name>.json` (mode 0600, directory 0700):
 *   { "name": "...", "versions": [{ "version": "<16 hex>", "createdAt": "...", "key": "<b64>" }] }
 * `key` is base64(iv(12) ‖ AES-256-GCM(masterKey, kek) ‖ tag(16)) with the associated data
 * being the version's key id `local:<name>/<version>` (name + version), so a KEK cannot be
 * moved to another name or version without the master key noticing.
 *
 * The KEK bytes never leave this module: callers get wrapped data keys and key ids only.
 *
 * `abortSignal` is checked before any file is read or written; key files are written with the
 * durable-write helper, which checks it once more just before the new file is moved into place.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { conflict, isAppError, notFound, validation } from '../../domain/errors';
import { foreignKeyMessage, type KeyDestruction, type KeyProvider, type WrappedKey } from '../../ports/key-provider';
import type { EscrowBundle, EscrowedKeyVersion, EscrowedKeyVersionV2, EscrowKeyObject, KeyEscrow } from '../../ports/key-escrow';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { createFileDurably, type DurableWriteOptions, mkdirDurably, syncDirectory, writeFileDurably } from '../durable-files';

export interface LocalKeyProviderOptions {
  /** Folder holding one `<name>.json` file per KEK. Created with mode 0700 if missing. */
  dir: string;
  /** 32-byte master key protecting the KEK files (see loadOrCreateMasterKey). */
  masterKey: Buffer;
}

export const LOCAL_WRAP_ALGORITHM = 'A256KW';
const KEY_NAME = /^[a-z0-9][a-z0-9-]{1,126}$/;
const VERSION = /^[0-9a-f]{16}$/;
const KEY_ID = /^local:([a-z0-9][a-z0-9-]{1,126})\/([0-9a-f]{16})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RFC 3394 default initial value. */
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const KEK_BYTES = 32;
/** The longest data key we agree to wrap (A256KW works on 64-bit blocks). */
const MAX_WRAP_INPUT = 1024;

/** Thrown when a wrapped key (or a stored KEK) fails its integrity check. Never carries key material. */
export function keyUnwrapError(
  message = 'The wrapped key could not be unwrapped: it is corrupt, was tampered with, or belongs to another key.',
): Error {
  const e = new Error(message);
  e.name = 'KeyUnwrapError';
  return e;
}

/** Checks by name, so the error matches across module copies and adapters. */
export function isKeyUnwrapError(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'KeyUnwrapError';
}

interface StoredVersion {
  version: string;
  createdAt: string;
  key: string;
}

interface StoredKey {
  name: string;
  versions: StoredVersion[];
}

const keyIdOf = (name: string, version: string) => `local:${name}/${version}`;

function checkName(name: string): void {
  if (typeof name !== 'string' || !KEY_NAME.test(name)) {
    throw validation('Invalid key name: use 2-127 characters a-z, 0-9 and "-", starting with a letter or digit.', [
      { path: '', message: 'must match ^[a-z0-9][a-z0-9-]{1,126}$' },
    ]);
  }
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

export class LocalKeyProvider implements KeyProvider, KeyEscrow {
  private readonly dir: string;
  private readonly masterKey: Buffer;
  /** Serialises read-modify-write (rotateKey) per name inside this process. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(options: LocalKeyProviderOptions) {
    if (!Buffer.isBuffer(options.masterKey) || options.masterKey.length !== 32) {
      throw new Error('LocalKeyProvider: the master key must be exactly 32 bytes.');
    }
    this.dir = path.resolve(options.dir);
    // Own copy, so a caller zeroing or reusing its buffer cannot change ours.
    this.masterKey = Buffer.from(options.masterKey);
  }

  async createKey(name: string, options: OperationOptions = {}): Promise<{ keyId: string }> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    await mkdirDurably(this.dir);
    const version = newVersion();
    const kek = randomBytes(KEK_BYTES);
    try {
      const doc: StoredKey = { name, versions: [this.sealVersion(name, version, kek)] };
      await createExclusive(this.fileOf(name), `${JSON.stringify(doc, null, 2)}\n`, options);
    } catch (e) {
      if (isErrno(e, 'EEXIST')) throw conflict(`A key named "${name}" already exists.`);
      throw e;
    } finally {
      kek.fill(0);
    }
    return { keyId: keyIdOf(name, version) };
  }

  async wrapKey(name: string, key: Uint8Array, options: OperationOptions = {}): Promise<WrappedKey> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    if (!(key instanceof Uint8Array) || key.length < 16 || key.length % 8 !== 0 || key.length > MAX_WRAP_INPUT) {
      throw validation('A256KW wraps keys of 16 to 1024 bytes whose length is a multiple of 8.');
    }
    const doc = await this.read(name);
    const latest = doc.versions[doc.versions.length - 1];
    if (!latest) throw notFound(`Key "${name}" has no versions.`);
    const kek = this.openVersion(name, latest);
    try {
      const cipher = createCipheriv('id-aes256-wrap', kek, KW_IV);
      const wrapped = Buffer.concat([cipher.update(key), cipher.final()]);
      return { keyId: keyIdOf(name, latest.version), algorithm: LOCAL_WRAP_ALGORITHM, wrapped: wrapped.toString('base64') };
    } finally {
      kek.fill(0);
    }
  }

  async unwrapKey(name: string, wrapped: WrappedKey, options: OperationOptions = {}): Promise<Uint8Array> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    if (wrapped === null || typeof wrapped !== 'object') throw keyUnwrapError('The wrapped key is malformed.');
    const { keyId, algorithm, wrapped: data } = wrapped;
    if (algorithm !== LOCAL_WRAP_ALGORITHM)
      throw keyUnwrapError(`Unsupported wrap algorithm for local keys (expected ${LOCAL_WRAP_ALGORITHM}).`);
    const m = typeof keyId === 'string' ? KEY_ID.exec(keyId) : null;
    if (!m) throw keyUnwrapError('The wrapped key does not name a local key version.');
    // Only versions of the named (tenant's own) key: never another tenant's, whatever the metadata says.
    if (m[1] !== name) throw keyUnwrapError(foreignKeyMessage);
    const version = m[2]!;
    if (typeof data !== 'string' || !BASE64.test(data)) throw keyUnwrapError('The wrapped key is not valid base64.');
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length < 24 || bytes.length % 8 !== 0) throw keyUnwrapError();

    const doc = await this.read(name);
    const v = doc.versions.find((x) => x.version === version);
    if (!v) throw notFound(`Key "${name}" has no version "${version}".`);
    const kek = this.openVersion(name, v);
    try {
      const decipher = createDecipheriv('id-aes256-wrap', kek, KW_IV);
      return new Uint8Array(Buffer.concat([decipher.update(bytes), decipher.final()]));
    } catch {
      throw keyUnwrapError();
    } finally {
      kek.fill(0);
    }
  }

  async deleteKey(name: string, options: OperationOptions = {}): Promise<void> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    await this.withLock(name, async () => {
      throwIfAborted(options.abortSignal);
      try {
        await fs.unlink(this.fileOf(name));
        await syncDirectory(this.dir);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    });
  }

  /**
   * Crypto-shredding: the key file (every version) is overwritten in place with random bytes
   * and fsynced, then unlinked and the folder fsynced. Overwriting is best effort against
   * forensic recovery (copy-on-write file systems, SSD wear levelling and the copies older
   * rotations left in free blocks are beyond it); what makes the versions unusable is that
   * no file holds them any more, and their sealed bytes open only with the master key.
   */
  async destroyKey(name: string, options: OperationOptions = {}): Promise<KeyDestruction> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    return this.withLock(name, async () => {
      throwIfAborted(options.abortSignal);
      const file = this.fileOf(name);
      let versions = 0;
      try {
        versions = (await this.read(name)).versions.length;
      } catch (e) {
        if (isAppError(e) && e.code === 'not_found') return { outcome: 'absent', versions: 0, detail: 'No key file: already destroyed.' };
        // A damaged file is destroyed all the same (its versions cannot be counted).
      }
      let fh: fs.FileHandle;
      try {
        fh = await fs.open(file, 'r+');
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return { outcome: 'absent', versions: 0, detail: 'No key file: already destroyed.' };
        throw e;
      }
      try {
        const { size } = await fh.stat();
        const noise = randomBytes(Math.max(size, 1));
        await fh.write(noise, 0, noise.length, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.unlink(file).catch((e: unknown) => {
        if (!isErrno(e, 'ENOENT')) throw e;
      });
      await syncDirectory(this.dir);
      return {
        outcome: 'destroyed',
        versions,
        detail: `Key file overwritten with random bytes, fsynced, unlinked; ${versions} version(s) destroyed.`,
      };
    });
  }

  /** Adds a new version that becomes the one wrapKey uses; older versions still unwrap. */
  async rotateKey(name: string, options: OperationOptions = {}): Promise<{ keyId: string }> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    return this.withLock(name, async () => {
      throwIfAborted(options.abortSignal);
      const doc = await this.read(name);
      const existing = new Set(doc.versions.map((v) => v.version));
      let version = newVersion();
      while (existing.has(version)) version = newVersion();
      const kek = randomBytes(KEK_BYTES);
      try {
        doc.versions.push(this.sealVersion(name, version, kek));
      } finally {
        kek.fill(0);
      }
      await replaceAtomically(this.fileOf(name), `${JSON.stringify(doc, null, 2)}\n`, options);
      return { keyId: keyIdOf(name, version) };
    });
  }

  /**
   * Every version of the named KEK sealed (AES-256-GCM) under the key's escrow key, and the
   * escrow key encrypted to the recovery public key (RSA-OAEP-256, the OAEP label binding it
   * to the key name), for escrow on the backup tiers. The escrow key is derived (HKDF-SHA-256)
   * from the key's first version, so it exists exactly as long as the key does: destroying the
   * key file leaves the provider unable to make it again. Key bytes leave this module only so
   * encrypted.
   */
  async escrowKey(name: string, recipient: KeyObject, options: OperationOptions = {}): Promise<EscrowBundle> {
    checkName(name);
    throwIfAborted(options.abortSignal);
    const doc = await this.read(name);
    const first = firstVersion(doc.versions);
    const firstKek = this.openVersion(name, first);
    const escrowKey = deriveEscrowKey(name, firstKek);
    firstKek.fill(0);
    try {
      const versions = doc.versions.map((v): EscrowedKeyVersionV2 => {
        const kek = this.openVersion(name, v);
        try {
          const keyId = keyIdOf(name, v.version);
          const iv = randomBytes(GCM_IV_BYTES);
          const cipher = createCipheriv('aes-256-gcm', escrowKey, iv);
          cipher.setAAD(escrowAad(keyId));
          const ct = Buffer.concat([cipher.update(kek), cipher.final()]);
          return {
            format: 'tenant-ledger-key-escrow/2',
            keyName: name,
            version: v.version,
            keyId,
            createdAt: v.createdAt,
            algorithm: 'A256GCM',
            sealedKey: Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64'),
          };
        } finally {
          kek.fill(0);
        }
      });
      const encryptedKey = publicEncrypt(
        { key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: escrowKeyLabel(name) },
        escrowKey,
      );
      return {
        escrowKey: {
          format: 'tenant-ledger-escrow-key/1',
          keyName: name,
          recipient: spkiSha256(recipient),
          algorithm: 'RSA-OAEP-256',
          encryptedKey: encryptedKey.toString('base64'),
        },
        versions,
      };
    } finally {
      escrowKey.fill(0);
    }
  }

  /**
   * Re-creates a KEK (all its versions, same key ids) from its escrow, sealed with this
   * provider's master key. `/1` versions open with the recovery key directly; `/2` versions
   * with the escrow key one of `options.escrowKeys` holds for this recovery key.
   */
  async importEscrowedKey(
    versions: EscrowedKeyVersion[],
    recoveryPrivateKey: KeyObject,
    options: OperationOptions & { escrowKeys?: EscrowKeyObject[] } = {},
  ): Promise<{ keyId: string }[]> {
    const name = versions[0]?.keyName ?? '';
    checkName(name);
    throwIfAborted(options.abortSignal);
    const fingerprint = spkiSha256(recoveryPrivateKey);
    let escrowKey: Buffer | undefined;
    const sealed: StoredVersion[] = [];
    try {
      for (const v of [...versions].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
        if (v.keyName !== name || !VERSION.test(v.version) || v.keyId !== keyIdOf(name, v.version))
          throw keyUnwrapError(`The escrow of key "${name}" is malformed.`);
        let kek: Buffer;
        if (v.format === 'tenant-ledger-key-escrow/1') {
          if (v.algorithm !== 'RSA-OAEP-256') throw keyUnwrapError(`The escrow of key "${name}" is malformed.`);
          if (v.recipient !== fingerprint) throw keyUnwrapError(`The escrow of key "${name}" is for another recovery key.`);
          kek = rsaOpen(recoveryPrivateKey, escrowLabel(v.keyId), v.encryptedKey, () =>
            keyUnwrapError(
              `The escrow of key "${name}" version "${v.version}" could not be decrypted with this recovery key (wrong key, or the object was altered).`,
            ),
          );
        } else if (v.format === 'tenant-ledger-key-escrow/2' && v.algorithm === 'A256GCM') {
          escrowKey ??= openEscrowKey(name, fingerprint, recoveryPrivateKey, options.escrowKeys ?? []);
          kek = gcmOpen(escrowKey, escrowAad(v.keyId), v.sealedKey, () =>
            keyUnwrapError(
              `The escrow of key "${name}" version "${v.version}" does not open with its escrow key (the object was altered).`,
            ),
          );
        } else {
          throw keyUnwrapError(`The escrow of key "${name}" is malformed.`);
        }
        try {
          if (kek.length !== KEK_BYTES) throw keyUnwrapError(`The escrow of key "${name}" version "${v.version}" holds no 256-bit key.`);
          sealed.push({ ...this.sealVersion(name, v.version, kek), createdAt: v.createdAt });
        } finally {
          kek.fill(0);
        }
      }
    } finally {
      escrowKey?.fill(0);
    }
    await mkdirDurably(this.dir);
    try {
      await createExclusive(this.fileOf(name), `${JSON.stringify({ name, versions: sealed } satisfies StoredKey, null, 2)}\n`, options);
    } catch (e) {
      if (isErrno(e, 'EEXIST')) throw conflict(`A key named "${name}" already exists.`);
      throw e;
    }
    return sealed.map((v) => ({ keyId: keyIdOf(name, v.version) }));
  }

  private fileOf(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  private async read(name: string): Promise<StoredKey> {
    let text: string;
    try {
      text = await fs.readFile(this.fileOf(name), 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw notFound(`No key named "${name}".`);
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`The key file for "${name}" is corrupt (not JSON).`);
    }
    if (!isStoredKey(parsed) || parsed.name !== name) throw new Error(`The key file for "${name}" is corrupt (unexpected shape).`);
    return parsed;
  }

  private sealVersion(name: string, version: string, kek: Buffer): StoredVersion {
    const iv = randomBytes(GCM_IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, iv);
    cipher.setAAD(Buffer.from(keyIdOf(name, version), 'utf8'));
    const ct = Buffer.concat([cipher.update(kek), cipher.final()]);
    return {
      version,
      createdAt: new Date().toISOString(),
      key: Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64'),
    };
  }

  /** Decrypts one KEK version; the caller must zero the returned buffer. */
  private openVersion(name: string, v: StoredVersion): Buffer {
    const blob = Buffer.from(v.key, 'base64');
    if (blob.length !== GCM_IV_BYTES + KEK_BYTES + GCM_TAG_BYTES) {
      throw keyUnwrapError(`The stored key "${name}" version "${v.version}" is corrupt.`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.masterKey, blob.subarray(0, GCM_IV_BYTES));
      decipher.setAAD(Buffer.from(keyIdOf(name, v.version), 'utf8'));
      decipher.setAuthTag(blob.subarray(GCM_IV_BYTES + KEK_BYTES));
      return Buffer.concat([decipher.update(blob.subarray(GCM_IV_BYTES, GCM_IV_BYTES + KEK_BYTES)), decipher.final()]);
    } catch {
      throw keyUnwrapError(`The stored key "${name}" could not be opened: wrong master key or corrupt file.`);
    }
  }

  private withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }
}

const escrowLabel = (keyId: string) => Buffer.from(`tenant-ledger-key-escrow:${keyId}`, 'utf8');
const escrowKeyLabel = (name: string) => Buffer.from(`tenant-ledger-escrow-key:${name}`, 'utf8');
const escrowAad = (keyId: string) => Buffer.from(`tenant-ledger-key-escrow/2:${keyId}`, 'utf8');

/** The version the escrow key is derived from: the oldest (it lives as long as the key). */
function firstVersion(versions: StoredVersion[]): StoredVersion {
  const first = [...versions].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.version.localeCompare(b.version))[0];
  if (!first) throw keyUnwrapError('The stored key has no version.');
  return first;
}

function deriveEscrowKey(name: string, firstKek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', firstKek, Buffer.alloc(0), `tenant-ledger-escrow-key:${name}`, KEK_BYTES));
}

function rsaOpen(key: KeyObject, label: Buffer, base64: string, fail: () => Error): Buffer {
  try {
    return privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
      Buffer.from(base64, 'base64'),
    );
  } catch {
    throw fail();
  }
}

function gcmOpen(key: Buffer, aad: Buffer, base64: string, fail: () => Error): Buffer {
  const blob = Buffer.from(base64, 'base64');
  if (blob.length !== GCM_IV_BYTES + KEK_BYTES + GCM_TAG_BYTES) throw fail();
  try {
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, GCM_IV_BYTES));
    d.setAAD(aad);
    d.setAuthTag(blob.subarray(GCM_IV_BYTES + KEK_BYTES));
    return Buffer.concat([d.update(blob.subarray(GCM_IV_BYTES, GCM_IV_BYTES + KEK_BYTES)), d.final()]);
  } catch {
    throw fail();
  }
}

/** The escrow key of `name` from the first of `objects` made for this recovery key that opens. */
function openEscrowKey(name: string, fingerprint: string, recoveryPrivateKey: KeyObject, objects: EscrowKeyObject[]): Buffer {
  const mine = objects.filter((o) => o.format === 'tenant-ledger-escrow-key/1' && o.keyName === name && o.recipient === fingerprint);
  for (const o of mine) {
    try {
      const k = rsaOpen(recoveryPrivateKey, escrowKeyLabel(name), o.encryptedKey, () => keyUnwrapError());
      if (k.length === KEK_BYTES) return k;
      k.fill(0);
    } catch {
      // Altered or for another key: try the next.
    }
  }
  throw keyUnwrapError(
    mine.length
      ? `The escrow key of "${name}" could not be decrypted with this recovery key (wrong key, or the object was altered).`
      : `No escrow key of "${name}" for this recovery key was found: the escrowed versions cannot be opened (after the tenant was shredded, none exists).`,
  );
}
const spkiSha256 = (k: KeyObject) =>
  createHash('sha256')
    .update((k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' }))
    .digest('hex');

function newVersion(): string {
  return randomBytes(8).toString('hex');
}

function isStoredKey(x: unknown): x is StoredKey {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as { name?: unknown; versions?: unknown };
  return (
    typeof o.name === 'string' &&
    Array.isArray(o.versions) &&
    o.versions.length > 0 &&
    o.versions.every((v: unknown) => {
      if (typeof v !== 'object' || v === null) return false;
      const r = v as Record<string, unknown>;
      return typeof r.version === 'string' && VERSION.test(r.version) && typeof r.createdAt === 'string' && typeof r.key === 'string';
    })
  );
}

/** Creates `file` only if it does not exist: complete, fsynced, linked into place, folder fsynced. */
async function createExclusive(file: string, content: string | Buffer, options: DurableWriteOptions = {}): Promise<void> {
  await createFileDurably(file, content, { mode: 0o600, ...options });
}

/** Replaces `file` atomically and durably: temp file + fsync + rename + folder fsync. */
async function replaceAtomically(file: string, content: string, options: DurableWriteOptions = {}): Promise<void> {
  await writeFileDurably(file, content, options);
}

const MASTER_KEY_ENV = 'LOCAL_MASTER_KEY';

/**
 * Returns the 32-byte master key. With `fromEnv` (the value of LOCAL_MASTER_KEY; an empty
 * string counts as unset) it must be hex (64 digits) or base64/base64url of exactly 32
 * bytes. Otherwise `<dataDir>/master.key` (32 raw bytes, mode 0600) is read, or created
 * with fresh random bytes if missing (the folder is created with mode 0700).
 */
export async function loadOrCreateMasterKey(dataDir: string, fromEnv?: string): Promise<Buffer> {
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseMasterKey(fromEnv.trim());

  const dir = path.resolve(dataDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'master.key');
  const existing = await readMasterKeyFile(file);
  if (existing) return existing;
  const key = randomBytes(32);
  try {
    await createExclusive(file, key, { mode: 0o600 });
    return key;
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
    // Another process created it first: use theirs.
    key.fill(0);
    const theirs = await readMasterKeyFile(file);
    if (!theirs) throw new Error(`The master key file ${file} vanished while it was being created.`);
    return theirs;
  }
}

async function readMasterKeyFile(file: string): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
  if (bytes.length !== 32) {
    bytes.fill(0);
    throw new Error(
      `The master key file ${file} must hold exactly 32 bytes; it is damaged. Restore it from backup (without it the local keys cannot be opened).`,
    );
  }
  return bytes;
}

function parseMasterKey(value: string): Buffer {
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    bytes = Buffer.from(value, 'hex');
  } else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(value)) {
    bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (bytes?.length !== 32) {
    bytes?.fill(0);
    throw new Error(
      `${MASTER_KEY_ENV} must be exactly 32 bytes encoded as 64 hex digits or base64 (e.g. \`openssl rand -base64 32\`); the value given is not.`,
    );
  }
  return bytes;
}
