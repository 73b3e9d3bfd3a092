/**
 * The tenant's keyring of subject keys (issue 14): one object per data subject in the tenant's
 * own blob container, `_keyring/<subjectRef>` (no type name starts with "_", so no file blob
 * can take the name), holding the subject's current data key wrapped by the tenant's key. The
 * clear key exists only in memory (a bounded cache, zeroed on eviction). Destroying a subject's
 * key is deleting its object: everything sealed under it is then unreadable.
 *
 * Uploads are durable when they resolve (BlobStore contract), so a key is on disk before any
 * value sealed under it is appended to the log. They carry the `small` hint: the folder store
 * then writes the entry as one file with two fsyncs (file, folder) instead of three.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isAppError } from '../../domain/errors';
import type { BlobStore } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperationOptions } from '../../ports/options';
import { newSubjectKey, unwrapSubjectKey, type WrappedSubjectKey } from '../../crypto';

export const KEYRING_PREFIX = '_keyring/';

/** What a keyring object holds (JSON). */
export interface KeyringEntry {
  v: 1;
  subjectRef: string;
  /** Random id of this key (sealed values name it): a key created after an erasure has a new id. */
  keyId: string;
  wrapped: WrappedSubjectKey;
}

export const keyringBlobName = (subjectRef: string) => `${KEYRING_PREFIX}${subjectRef}`;

/**
 * The reference of a subject id inside a tenant: a hash keyed with the tenant's user-id salt
 * (random, recorded in its TenantCreated event, kept by restores), so the id itself is not
 * stored with the sealed values, in erasure events or in keyring names.
 */
export function subjectRefOf(salt: string, subjectId: string): string {
  return `s_${createHash('sha256').update(`tenant-ledger subject\u0000${salt}\u0000${subjectId}`).digest('base64url').slice(0, 32)}`;
}

/** Clear subject keys in memory, bounded, zeroed when dropped. Keyed by tenant, subject and key id. */
export class SubjectKeyCache {
  private readonly entries = new Map<string, { keyId: string; key: Buffer; at: number }>();

  constructor(
    private readonly max = 10_000,
    /** How long a cached key is trusted before the keyring is read again (erasures by another instance). */
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(tenantId: string, subjectRef: string): { keyId: string; key: Buffer } | undefined {
    const k = `${tenantId}\u0000${subjectRef}`;
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (this.now() - e.at > this.ttlMs) {
      this.drop(k);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(k);
    this.entries.set(k, e);
    return e;
  }

  set(tenantId: string, subjectRef: string, keyId: string, key: Buffer): void {
    const k = `${tenantId}\u0000${subjectRef}`;
    this.drop(k);
    this.entries.set(k, { keyId, key, at: this.now() });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.drop(oldest);
    }
  }

  forget(tenantId: string, subjectRef?: string): void {
    if (subjectRef !== undefined) {
      this.drop(`${tenantId}\u0000${subjectRef}`);
      return;
    }
    for (const k of [...this.entries.keys()]) if (k.startsWith(`${tenantId}\u0000`)) this.drop(k);
  }

  private drop(k: string): void {
    const e = this.entries.get(k);
    if (!e) return;
    e.key.fill(0);
    this.entries.delete(k);
  }
}

/** One tenant's keyring. */
export class SubjectKeyring {
  constructor(
    readonly tenantId: string,
    private readonly d: { blobs: () => Promise<BlobStore>; keys: KeyProvider; keyName: string; cache: SubjectKeyCache },
  ) {}

  /** The subject's current key as stored (wrapped), or undefined when it has none. */
  async entry(subjectRef: string, options: OperationOptions = {}): Promise<KeyringEntry | undefined> {
    const blobs = await this.d.blobs();
    let chunks: AsyncIterable<Uint8Array>;
    try {
      chunks = await blobs.download(keyringBlobName(subjectRef), options);
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(Buffer.from(c));
      const e = JSON.parse(Buffer.concat(parts).toString('utf8')) as KeyringEntry;
      if (e?.v !== 1 || e.subjectRef !== subjectRef || typeof e.keyId !== 'string') throw new Error('malformed keyring entry');
      return e;
    } catch (e) {
      if (isAppError(e) && e.code === 'not_found') return undefined;
      if ((e as { code?: unknown })?.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * The clear key `keyId` of the subject, if the keyring still holds it (the caller must not
   * keep it: the cache owns and zeroes it). `erased` says whether an erasure already covers
   * it (an erasure whose key deletion a crash interrupted): then it is treated as gone.
   */
  async key(subjectRef: string, keyId: string, erased: (ref: string, keyId: string) => Promise<boolean>): Promise<Buffer | undefined> {
    const cached = this.d.cache.get(this.tenantId, subjectRef);
    if (cached) return cached.keyId === keyId ? cached.key : undefined;
    const current = await this.load(subjectRef, erased);
    return current && current.keyId === keyId ? current.key : undefined;
  }

  /**
   * The subject's current key, created (durably) when it has none or only an erased one.
   * Concurrent creators agree: the upload of the second fails on the name and it reads the first.
   */
  async currentOrNew(
    subjectRef: string,
    erased: (ref: string, keyId: string) => Promise<boolean>,
    options: { isNew?: boolean } = {},
  ): Promise<{ keyId: string; key: Buffer }> {
    if (!options.isNew) {
      const cached = this.d.cache.get(this.tenantId, subjectRef);
      if (cached) return cached;
      const current = await this.load(subjectRef, erased);
      if (current) return current;
    }
    const blobs = await this.d.blobs();
    const { key, wrapped } = await newSubjectKey(this.d.keys, this.d.keyName);
    const entry: KeyringEntry = { v: 1, subjectRef, keyId: randomKeyId(), wrapped };
    try {
      await blobs.upload(keyringBlobName(subjectRef), once(Buffer.from(JSON.stringify(entry))), { metadata: {}, small: true });
    } catch (e) {
      key.fill(0);
      if (isAppError(e) && e.code === 'conflict') {
        const other = await this.load(subjectRef, erased);
        if (other) return other;
      }
      throw e;
    }
    this.d.cache.set(this.tenantId, subjectRef, entry.keyId, key);
    return { keyId: entry.keyId, key };
  }

  /** Deletes the subject's key object (idempotent) and drops it from memory. */
  async destroy(subjectRef: string, options: OperationOptions = {}): Promise<void> {
    this.d.cache.forget(this.tenantId, subjectRef);
    await (await this.d.blobs()).delete(keyringBlobName(subjectRef), options);
  }

  /** Every entry of the keyring (for backups and restores). */
  async *entries(options: OperationOptions = {}): AsyncGenerator<KeyringEntry> {
    const blobs = await this.d.blobs();
    for await (const b of blobs.list(KEYRING_PREFIX, options)) {
      const e = await this.entry(b.name.slice(KEYRING_PREFIX.length), options);
      if (e) yield e;
    }
  }

  /** Stores an entry as it is (a restore's re-wrapped key); an existing entry is kept. */
  async put(entry: KeyringEntry, options: OperationOptions = {}): Promise<void> {
    try {
      await (await this.d.blobs()).upload(keyringBlobName(entry.subjectRef), once(Buffer.from(JSON.stringify(entry))), {
        metadata: {},
        small: true,
        ...options,
      });
    } catch (e) {
      if (!(isAppError(e) && e.code === 'conflict')) throw e;
    }
  }

  private async load(
    subjectRef: string,
    erased: (ref: string, keyId: string) => Promise<boolean>,
  ): Promise<{ keyId: string; key: Buffer } | undefined> {
    const e = await this.entry(subjectRef);
    if (!e) return undefined;
    if (await erased(subjectRef, e.keyId)) {
      // An erasure whose deletion did not happen (a crash): finish it now.
      await this.destroy(subjectRef);
      return undefined;
    }
    const key = await unwrapSubjectKey(this.d.keys, this.d.keyName, e.wrapped);
    this.d.cache.set(this.tenantId, subjectRef, e.keyId, key);
    return { keyId: e.keyId, key };
  }
}

function randomKeyId(): string {
  return `k_${randomBytes(16).toString('base64url')}`;
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}
