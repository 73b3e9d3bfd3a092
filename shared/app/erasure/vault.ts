/**
 * The process-wide access to personal data (issue 14): each tenant's keyring, its erasures
 * and the personal marks of its types, cached, and the event store view that opens sealed
 * values on every read ({@link PersonalDataVault.opening}).
 */
import { ERASURES_STREAM, type ErasureSet, evolveErasures } from '../../domain/erasure';
import type { Commit } from '../../domain/events';
import { parseRecordStreamId, type RecordState } from '../../domain/records';
import { evolveTypes, TYPES_STREAM, type TypeDefinition } from '../../domain/type-set';
import type { BlobStoreFactory } from '../../ports/blob-store';
import type { EventStore, Snapshot } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperationOptions } from '../../ports/options';
import { readStreamPages } from '../record-reader';
import { hasSealed, isSealedSnapshot, type OpenKeys, openEvent, openSnapshot, sealSnapshot } from './codec';
import { SubjectKeyCache, SubjectKeyring, subjectRefOf } from './keyring';
import { marksOf, type PersonalMarks, subjectIdOf } from './marks';

export interface PersonalDataVaultDeps {
  keys: KeyProvider;
  blobs: BlobStoreFactory;
  /** The tenant's key-encryption key name (from its meta). */
  keyNameOf: (tenantId: string, options?: OperationOptions) => Promise<string>;
  cache?: SubjectKeyCache;
}

const RAW = Symbol('raw event store');

/** The store under an opening view (backups ship the log as stored: sealed). */
export function rawEvents(events: EventStore): EventStore {
  return (events as EventStore & { [RAW]?: EventStore })[RAW] ?? events;
}

export class PersonalDataVault {
  readonly cache: SubjectKeyCache;
  private readonly keyNames = new Map<string, string>();
  private readonly erasures = new Map<string, { version: number; set: ErasureSet }>();
  private readonly types = new Map<string, { version: number; types: Map<string, TypeDefinition> }>();
  private readonly salts = new Map<string, string>();

  constructor(private readonly d: PersonalDataVaultDeps) {
    this.cache = d.cache ?? new SubjectKeyCache();
  }

  /**
   * The keyring of the tenant whose log `events` is: its blob objects and, where the store has
   * one, the log's own table of subject keys (new subjects' keys are written with commits).
   */
  async keyring(events: EventStore): Promise<SubjectKeyring> {
    const raw = rawEvents(events);
    const tenantId = raw.tenantId;
    let keyName = this.keyNames.get(tenantId);
    if (!keyName) {
      keyName = await this.d.keyNameOf(tenantId);
      this.keyNames.set(tenantId, keyName);
    }
    return new SubjectKeyring(tenantId, {
      blobs: () => this.d.blobs.forTenant(tenantId),
      keys: this.d.keys,
      keyName,
      cache: this.cache,
      table: raw.subjectKeys,
    });
  }

  /** Drops what is cached about a tenant (removed, restored, offboarded). */
  forget(tenantId: string): void {
    this.keyNames.delete(tenantId);
    this.erasures.delete(tenantId);
    this.types.delete(tenantId);
    this.salts.delete(tenantId);
    this.cache.forget(tenantId);
  }

  /** The tenant's erasures, folded from its `erasures` stream (re-read when it moved). */
  async erasureSet(events: EventStore): Promise<ErasureSet> {
    const raw = rawEvents(events);
    const version = await raw.streamVersion(ERASURES_STREAM);
    const cached = this.erasures.get(raw.tenantId);
    if (cached && cached.version === version) return cached.set;
    let set: ErasureSet = cached && cached.version < version ? cached.set : new Map();
    for await (const page of readStreamPages(raw, ERASURES_STREAM, {
      fromVersion: cached && cached.version < version ? cached.version + 1 : 1,
    }))
      for (const c of page) set = evolveErasures(set, c);
    this.erasures.set(raw.tenantId, { version, set });
    return set;
  }

  /** Whether an erasure covers this subject key (also when a crash left the key behind). */
  erasedCheck(events: EventStore): (ref: string, keyId: string) => Promise<boolean> {
    return async (ref, keyId) => (await this.erasureSet(events)).get(ref)?.keyIds.includes(keyId) ?? false;
  }

  /** The personal marks of a type of the tenant (undefined: none). */
  async marks(events: EventStore, type: string): Promise<PersonalMarks | undefined> {
    const raw = rawEvents(events);
    const version = await raw.streamVersion(TYPES_STREAM);
    let cached = this.types.get(raw.tenantId);
    if (!cached || cached.version !== version) {
      const types = new Map<string, TypeDefinition>();
      for await (const page of readStreamPages(raw, TYPES_STREAM)) for (const c of page) evolveTypes(types, c);
      cached = { version, types };
      this.types.set(raw.tenantId, cached);
    }
    const def = cached.types.get(type);
    return def ? marksOf(def.schema) : undefined;
  }

  /** The reference of a subject id in this tenant (keyed by the tenant's salt). */
  async subjectRef(events: EventStore, subjectId: string): Promise<string> {
    const raw = rawEvents(events);
    let salt = this.salts.get(raw.tenantId);
    if (!salt) {
      const first = (await raw.readStream('tenant', { maxCount: 1 }))[0];
      const s = (first?.events[0]?.data as { userIdSalt?: unknown } | undefined)?.userIdSalt;
      if (typeof s !== 'string') throw new Error('the tenant has no salt in its TenantCreated event');
      salt = s;
      this.salts.set(raw.tenantId, salt);
    }
    return subjectRefOf(salt, subjectId);
  }

  /** Opens sealed values with the tenant's keyring; destroyed keys give the erased marker. */
  openKeys(events: EventStore): OpenKeys {
    let ring: Promise<SubjectKeyring> | undefined;
    const erased = this.erasedCheck(events);
    return async (ref, keyId) => {
      ring ??= this.keyring(events);
      return (await ring).key(ref, keyId, erased);
    };
  }

  /**
   * The event store as readers see it: sealed personal values opened (or the erased marker),
   * sealed snapshots opened, snapshots of records with personal values sealed before they
   * are written. Appends pass through unchanged (record commands seal before appending).
   */
  opening(events: EventStore): EventStore {
    if ((events as EventStore & { [RAW]?: EventStore })[RAW]) return events;
    const keys = this.openKeys(events);
    const openCommit = async (c: Commit): Promise<Commit> => {
      if (!c.events.some(hasSealed)) return c;
      const opened = [];
      for (const [index, e] of c.events.entries())
        opened.push(await openEvent(e, { streamId: c.streamId, version: c.version, index }, keys));
      return { ...c, events: opened };
    };
    const openAll = async (cs: Commit[]) => {
      if (!cs.some((c) => c.events.some(hasSealed))) return cs;
      const out: Commit[] = [];
      for (const c of cs) out.push(await openCommit(c));
      return out;
    };
    const view: EventStore & { [RAW]: EventStore } = {
      [RAW]: events,
      tenantId: events.tenantId,
      ...(events.subjectKeys ? { subjectKeys: events.subjectKeys } : {}),
      append: (...a) => events.append(...a),
      ...(events.appendMany ? { appendMany: (...a: Parameters<NonNullable<EventStore['appendMany']>>) => events.appendMany!(...a) } : {}),
      readStream: async (...a) => openAll(await events.readStream(...a)),
      streamVersion: (...a) => events.streamVersion(...a),
      listStreams: (...a) => events.listStreams(...a),
      readFeed: async (...a) => {
        const page = await events.readFeed(...a);
        return { ...page, commits: await openAll(page.commits) };
      },
      feedLag: (...a) => events.feedLag(...a),
      ...(events.endCheckpoint
        ? { endCheckpoint: (...a: Parameters<NonNullable<EventStore['endCheckpoint']>>) => events.endCheckpoint!(...a) }
        : {}),
      findByIdempotencyKey: async (...a) => {
        const c = await events.findByIdempotencyKey(...a);
        return c ? openCommit(c) : undefined;
      },
      readSnapshot: async (streamId, options) => {
        const snap = await events.readSnapshot(streamId, options);
        if (!snap || !isSealedSnapshot(snap.state)) return snap;
        const state = await openSnapshot(snap.state, { streamId, version: snap.version }, keys);
        return state ? { ...snap, state } : undefined;
      },
      writeSnapshot: async (streamId: string, snapshot: Snapshot, options?: OperationOptions) => {
        const rec = parseRecordStreamId(streamId);
        const marks = rec ? await this.marks(events, rec.type) : undefined;
        if (!rec || !marks) return events.writeSnapshot(streamId, snapshot, options);
        const state = snapshot.state as RecordState;
        const ref = await this.subjectRef(events, subjectIdOf(marks, rec.id, state.deleted ? undefined : state.data));
        const cached = this.cache.get(events.tenantId, ref);
        // Only under a key the subject has now: never a new key for a snapshot (nor for an erased subject).
        if (!cached) return;
        const sealed = sealSnapshot(state, { streamId, version: snapshot.version }, { ref, ...cached });
        return events.writeSnapshot(streamId, { ...snapshot, state: sealed }, options);
      },
    };
    return view;
  }
}
