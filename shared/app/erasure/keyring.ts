/**
 * The tenant's keyring of subject keys (issue 14): each data subject's current data key wrapped
 * by the tenant's key, in one of two places.
 *
 * - **With the commit** (where the event store has a table of subject keys: the embedded store).
 *   A record created as its own subject gets a new key that is written as a row of the tenant's
 *   own database in the same transaction as the commit that first seals under it
 *   ({@link SubjectKeyring.fresh}): one fsync for both, the key durable exactly when the values
 *   are, nothing stored when the append fails. The key is random and made for that one commit,
 *   so no other subject can ever be given it (no pool of keys to hand out twice).
 * - **As an object of its own**, `_keyring/<subjectRef>` in the tenant's blob container (no
 *   type name starts with "_", so no file blob can take the name): every key on Cosmos, keys of
 *   subjects named by `x-subject` (reused by many records; two commands may race to make one),
 *   and keys a restore brings back. Uploaded before any value sealed under it is appended
 *   (uploads are durable when they resolve), with the `small` hint (the folder store then
 *   writes one file with two fsyncs).
 *
 * Lookups read both (the table first). The clear key exists only in memory (a bounded cache,
 * zeroed on eviction). Destroying a subject's key deletes its row (overwritten in place, WAL
 * checkpointed) and its object: everything sealed under it is then unreadable.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isAppError } from '../../domain/errors';
import type { BlobStore } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { SubjectKeyRow, SubjectKeyTable } from '../../ports/event-store';
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
    private readonly d: {
      blobs: () => Promise<BlobStore>;
      keys: KeyProvider;
      keyName: string;
      cache: SubjectKeyCache;
      /**
       * The log's own table of subject keys, when the event store has one (embedded): new
       * subjects' keys are then written with the commit that first seals under them
       * ({@link SubjectKeyring.fresh}), and every lookup reads it besides the blob objects.
       */
      table?: SubjectKeyTable | undefined;
    },
  ) {}

  /** Whether new subjects' keys are stored with their first commit (see {@link fresh}). */
  get storesWithCommits(): boolean {
    return this.d.table !== undefined;
  }

  /**
   * The subject's current key as stored (wrapped), or undefined when it has none: the row the
   * log's table holds, else the blob object.
   */
  async entry(subjectRef: string, options: OperationOptions = {}): Promise<KeyringEntry | undefined> {
    return (await this.tableEntry(subjectRef, options)) ?? (await this.blobEntry(subjectRef, options));
  }

  /** Every key the keyring holds for the subject (the table's and the blob object's; usually one). */
  async entriesOf(subjectRef: string, options: OperationOptions = {}): Promise<KeyringEntry[]> {
    const out: KeyringEntry[] = [];
    const t = await this.tableEntry(subjectRef, options);
    if (t) out.push(t);
    const b = await this.blobEntry(subjectRef, options);
    if (b && b.keyId !== t?.keyId) out.push(b);
    return out;
  }

  private async tableEntry(subjectRef: string, options: OperationOptions = {}): Promise<KeyringEntry | undefined> {
    if (!this.d.table) return undefined;
    const row = await this.d.table.get(subjectRef, options);
    return row ? parseEntry(row.body, subjectRef) : undefined;
  }

  private async blobEntry(subjectRef: string, options: OperationOptions = {}): Promise<KeyringEntry | undefined> {
    const blobs = await this.d.blobs();
    let chunks: AsyncIterable<Uint8Array>;
    try {
      chunks = await blobs.download(keyringBlobName(subjectRef), options);
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(Buffer.from(c));
      return parseEntry(Buffer.concat(parts).toString('utf8'), subjectRef);
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
    if (cached?.keyId === keyId) return cached.key;
    const current = cached ?? (await this.load(subjectRef, erased));
    if (current?.keyId === keyId) return current.key;
    // Not the subject's current key: an older one still held (a subject whose own record was
    // created after another type had named it, so it has a key in each place), or none (erased).
    const other = (await this.entriesOf(subjectRef)).find((e) => e.keyId === keyId);
    if (!other || (await erased(subjectRef, keyId))) return undefined;
    return unwrapSubjectKey(this.d.keys, this.d.keyName, other.wrapped);
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

  /**
   * A new key for a subject that cannot have one yet (a record created as its own subject),
   * not stored anywhere: the caller appends `row` with the commit that first seals under it
   * (`subjectKeys` of the append: one transaction, no write of its own), then hands the key to
   * {@link adopt}, or zeroes it when the append failed. Nothing else ever holds this key, so
   * no two subjects can share it, in one process or in two, and a crash before the commit
   * leaves nothing behind. Only where {@link storesWithCommits}.
   */
  async fresh(subjectRef: string): Promise<{ keyId: string; key: Buffer; row: SubjectKeyRow }> {
    if (!this.d.table) throw new Error('this keyring stores no keys with commits');
    const { key, wrapped } = await newSubjectKey(this.d.keys, this.d.keyName);
    const entry: KeyringEntry = { v: 1, subjectRef, keyId: randomKeyId(), wrapped };
    return { keyId: entry.keyId, key, row: { subjectRef, keyId: entry.keyId, body: JSON.stringify(entry) } };
  }

  /** A {@link fresh} key whose commit is stored: the cache takes it (and zeroes it when dropped). */
  adopt(subjectRef: string, keyId: string, key: Buffer): void {
    this.d.cache.set(this.tenantId, subjectRef, keyId, key);
  }

  /**
   * Deletes the subject's keys (idempotent) and drops them from memory: every key it has, or
   * only those of `keyIds` (an erasure's: a key made after it stays).
   */
  async destroy(subjectRef: string, options: OperationOptions & { keyIds?: readonly string[] } = {}): Promise<void> {
    this.d.cache.forget(this.tenantId, subjectRef);
    const only = options.keyIds;
    const { keyIds: _, ...call } = options;
    if (this.d.table) {
      const row = only ? await this.d.table.get(subjectRef, call) : undefined;
      if (!only || (row && only.includes(row.keyId))) await this.d.table.delete(subjectRef, call);
    }
    const blob = only ? await this.blobEntry(subjectRef, call) : undefined;
    if (!only || (blob && only.includes(blob.keyId))) await (await this.d.blobs()).delete(keyringBlobName(subjectRef), call);
  }

  /** Every entry of the keyring (for backups and restores): the table's rows, then the blob objects. */
  async *entries(options: OperationOptions = {}): AsyncGenerator<KeyringEntry> {
    if (this.d.table) {
      let after: string | undefined;
      for (;;) {
        const rows = await this.d.table.list({ ...options, limit: 500, ...(after !== undefined ? { after } : {}) });
        for (const r of rows) {
          const e = parseEntry(r.body, r.subjectRef);
          if (e) yield e;
        }
        if (rows.length < 500) break;
        after = rows[rows.length - 1]!.subjectRef;
      }
    }
    const blobs = await this.d.blobs();
    for await (const b of blobs.list(KEYRING_PREFIX, options)) {
      const e = await this.blobEntry(b.name.slice(KEYRING_PREFIX.length), options);
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

  /** The subject's current key, unwrapped and cached; erased entries a crash left behind are destroyed on the way. */
  private async load(
    subjectRef: string,
    erased: (ref: string, keyId: string) => Promise<boolean>,
  ): Promise<{ keyId: string; key: Buffer } | undefined> {
    let current: KeyringEntry | undefined;
    const gone: string[] = [];
    // The table's row, when it is there and not erased, is the current key (no blob lookup).
    const row = await this.tableEntry(subjectRef);
    const held = row && !(await erased(subjectRef, row.keyId)) ? [row] : await this.entriesOf(subjectRef);
    for (const e of held) {
      if (await erased(subjectRef, e.keyId)) gone.push(e.keyId);
      else current ??= e;
    }
    // An erasure whose deletion did not happen (a crash): finish it now.
    if (gone.length > 0) await this.destroy(subjectRef, { keyIds: gone });
    if (!current) return undefined;
    const key = await unwrapSubjectKey(this.d.keys, this.d.keyName, current.wrapped);
    this.d.cache.set(this.tenantId, subjectRef, current.keyId, key);
    return { keyId: current.keyId, key };
  }
}

function parseEntry(text: string, subjectRef: string): KeyringEntry {
  const e = JSON.parse(text) as KeyringEntry;
  if (e?.v !== 1 || e.subjectRef !== subjectRef || typeof e.keyId !== 'string') throw new Error('malformed keyring entry');
  return e;
}

function randomKeyId(): string {
  return `k_${randomBytes(16).toString('base64url')}`;
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}
