/**
 * Subject keys and erasures in backups (issue 14).
 *
 * A backup run ships, before any segment, the tenant's keyring to the chain it writes:
 * `tenants/<id>/chains/<n>/keyring/<subjectRef>.<keyId>.json` (write-once; the wrapped key only,
 * wrapped by the tenant's key like every segment key), and the keys it still lacks once more after
 * the last segment ({@link shipKeys}). A key is durable no later than the values sealed under it
 * (written in the same transaction, or before), so every commit a run ships has its key in that
 * chain.
 *
 * Erasures go beside the chains: `tenants/<id>/erasures/<subjectRef>.<keyId>.json` (subject
 * reference, key id, time; nothing erased is in it), written after the run has deleted that
 * key's objects from every chain of the tier. A tier that refuses deletions (an immutability
 * policy) keeps the wrapped key in its older chains until retention deletes those chains.
 *
 * A restore brings back only the keys of its chain that no erasure known at restore time
 * names: the tier's erasure list, the live source tenant's erasures (when it still exists), and
 * those in the restored log. Each key is re-wrapped with the new tenant's key. The erasures the
 * restored log lacks (a backup taken before them) are appended to it as `SubjectErased` by the
 * restore, before the tenant is projected or served.
 */
import { isAppError } from '../../domain/errors';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import { rewrapSubjectKey } from '../../crypto';
import { chainPrefix, chainsPrefix, tenantPrefix } from '../backup/chain-format';
import type { BlobStoreFactory } from '../../ports/blob-store';
import { ERASURES_STREAM, erasureDecider, REASON_MAX, SUBJECT_REF } from '../../domain/erasure';
import { handleCommand } from '../command-handling/handle-command';
import { type KeyringEntry, SubjectKeyring } from './keyring';
import type { PersonalDataVault } from './vault';

const keyringPrefix = (tenant: string, chain: number) => `${chainPrefix(tenant, chain)}keyring/`;
const keyringKey = (tenant: string, chain: number, ref: string, keyId: string) => `${keyringPrefix(tenant, chain)}${ref}.${keyId}.json`;
export const erasuresPrefix = (tenant: string) => `${tenantPrefix(tenant)}erasures/`;
const erasureKey = (tenant: string, ref: string, keyId: string) => `${erasuresPrefix(tenant)}${ref}.${keyId}.json`;

async function putOnce(target: BackupTarget, key: string, body: unknown, call: TargetCallOptions): Promise<void> {
  try {
    await target.put(key, Buffer.from(JSON.stringify(body)), call);
  } catch (e) {
    if (!(isAppError(e) && e.code === 'conflict')) throw e;
  }
}

/**
 * Ships the keyring to `chain` and the tenant's erasures beside the chains; deletes erased keys
 * from every chain of the tier first. Returns what it did (for the run's log).
 */
export async function shipKeyring(
  personal: PersonalDataVault,
  events: EventStore,
  tenant: string,
  target: BackupTarget,
  chain: number,
  call: TargetCallOptions,
  log?: (m: string) => void,
): Promise<{ keys: number; erasures: number; refusedDeletes: number }> {
  let refusedDeletes = 0;
  let erasures = 0;
  const erased = await personal.erasureSet(events);
  if (erased.size > 0) {
    const have = new Set<string>();
    for await (const o of target.list(erasuresPrefix(tenant), call)) have.add(o.key);
    const chains = new Set<number>();
    for await (const o of target.list(chainsPrefix(tenant), call)) {
      const m = /chains\/(\d{6})\//.exec(o.key);
      if (m) chains.add(Number(m[1]));
    }
    chains.add(chain);
    for (const e of erased.values()) {
      for (const keyId of e.keyIds) {
        const marker = erasureKey(tenant, e.subjectRef, keyId);
        if (have.has(marker)) continue;
        for (const c of chains) {
          try {
            await target.delete(keyringKey(tenant, c, e.subjectRef, keyId), call);
          } catch (err) {
            refusedDeletes++;
            log?.(
              `erasure of a subject key of ${tenant}: ${target.name} refused to delete it from chain ${c} (${(err as Error)?.message}); retention removes that chain`,
            );
          }
        }
        await putOnce(target, marker, { subjectRef: e.subjectRef, keyId, erasedAt: e.erasedAt }, call);
        erasures++;
      }
    }
  }
  const keys = await shipKeys(personal, events, tenant, target, chain, call);
  return { keys, erasures, refusedDeletes };
}

/**
 * Ships to `chain` the keyring entries it does not hold yet (not erased ones). The writer calls
 * it again after the last segment: a commit appended while the run read the log (after the
 * keyring was first listed) has its key durable with it or before it, so this second listing
 * finds it, and the chain never holds a commit whose key it lacks. Returns the keys shipped.
 */
export async function shipKeys(
  personal: PersonalDataVault,
  events: EventStore,
  tenant: string,
  target: BackupTarget,
  chain: number,
  call: TargetCallOptions,
): Promise<number> {
  const erased = await personal.erasureSet(events);
  const shipped = new Set<string>();
  for await (const o of target.list(keyringPrefix(tenant, chain), call)) shipped.add(o.key);
  const ring = await personal.keyring(events);
  let keys = 0;
  for await (const entry of ring.entries(call)) {
    if (erased.get(entry.subjectRef)?.keyIds.includes(entry.keyId)) continue;
    const key = keyringKey(tenant, chain, entry.subjectRef, entry.keyId);
    if (shipped.has(key)) continue;
    await putOnce(target, key, entry, call);
    keys++;
  }
  return keys;
}

/** One erasure known at restore time, and where it is known from. */
interface KnownErasure {
  subjectRef: string;
  keyId: string;
  erasedAt?: string;
  reason?: string;
  from: 'tier' | 'source' | 'restored';
}

/** Erasures known at restore time: the tier's list, the live source's, the restored log's (by `<ref>.<keyId>`). */
async function knownErasures(
  personal: PersonalDataVault,
  target: BackupTarget,
  source: { tenant: string; events?: EventStore | undefined },
  restored: EventStore,
  call: TargetCallOptions,
): Promise<Map<string, KnownErasure>> {
  const known = new Map<string, KnownErasure>();
  for await (const o of target.list(erasuresPrefix(source.tenant), call)) {
    const name = o.key.slice(erasuresPrefix(source.tenant).length).replace(/\.json$/, '');
    const dot = name.indexOf('.');
    if (dot < 0) continue;
    const subjectRef = name.slice(0, dot);
    if (!SUBJECT_REF.test(subjectRef)) continue;
    let erasedAt: string | undefined;
    try {
      const body = JSON.parse(Buffer.from((await target.get(o.key, call)) ?? []).toString('utf8')) as { erasedAt?: unknown };
      if (typeof body.erasedAt === 'string') erasedAt = body.erasedAt;
    } catch {
      // The marker's name is what counts; its time is only for the record.
    }
    known.set(name, { subjectRef, keyId: name.slice(dot + 1), ...(erasedAt ? { erasedAt } : {}), from: 'tier' });
  }
  for (const [events, from] of [
    [source.events, 'source'],
    [restored, 'restored'],
  ] as const) {
    if (!events) continue;
    for (const e of (await personal.erasureSet(events)).values())
      for (const keyId of e.keyIds)
        known.set(`${e.subjectRef}.${keyId}`, { subjectRef: e.subjectRef, keyId, erasedAt: e.erasedAt, reason: e.reason, from });
  }
  return known;
}

/**
 * The erasures known at restore time that the restored log does not hold (the backup was taken
 * before them) become `SubjectErased` events in it, by the restore (a system author), so the
 * restored tenant's audit, change feed and later backups show that they happened: when, and the
 * original reason when the live source still knows it. Never what was erased.
 */
async function recordErasures(
  intoEvents: EventStore,
  known: Map<string, KnownErasure>,
  r: { source: string; target: BackupTarget; correlationId?: string },
): Promise<number> {
  const missing = new Map<string, KnownErasure[]>();
  for (const k of known.values()) if (k.from !== 'restored') missing.set(k.subjectRef, [...(missing.get(k.subjectRef) ?? []), k]);
  let recorded = 0;
  for (const [subjectRef, ks] of missing) {
    const first = ks[0]!;
    const where = first.from === 'source' ? `the live tenant ${r.source}` : `the erasure list of backup tier ${r.target.name}`;
    const reason = `Applied at restore (known from ${where}): erased in ${r.source}${first.erasedAt ? ` on ${first.erasedAt}` : ''}${first.reason ? `; reason: ${first.reason}` : ''}`;
    const res = await handleCommand(
      intoEvents,
      ERASURES_STREAM,
      erasureDecider,
      {
        kind: 'erase',
        subjectRef,
        keyIds: ks.map((k) => k.keyId),
        reason: reason.length > REASON_MAX ? `${reason.slice(0, REASON_MAX - 1)}…` : reason,
      },
      { meta: { author: { kind: 'system', id: 'restore' }, correlationId: r.correlationId ?? 'restore' }, retries: 3 },
    );
    if (res.commit) recorded++;
  }
  return recorded;
}

/**
 * Puts the chain's subject keys into the restored tenant's keyring, re-wrapped with its key,
 * except those an erasure names. Before the restored tenant is projected or served.
 */
export async function restoreKeyring(
  d: {
    personal: PersonalDataVault;
    keys: KeyProvider;
    blobs: BlobStoreFactory;
    sourceKeyName: (keyId: string) => Promise<string>;
  },
  r: {
    source: string;
    sourceEvents?: EventStore | undefined;
    into: string;
    intoEvents: EventStore;
    intoKeyName: string;
    target: BackupTarget;
    chain: number;
    call: TargetCallOptions;
    correlationId?: string;
  },
): Promise<{ restored: number; dropped: number; erasuresRecorded: number }> {
  const known = await knownErasures(d.personal, r.target, { tenant: r.source, events: r.sourceEvents }, r.intoEvents, r.call);
  const erased = (ref: string, keyId: string) => known.has(`${ref}.${keyId}`);
  const erasuresRecorded = await recordErasures(r.intoEvents, known, {
    source: r.source,
    target: r.target,
    ...(r.correlationId ? { correlationId: r.correlationId } : {}),
  });
  const ring = new SubjectKeyring(r.into, {
    blobs: () => d.blobs.forTenant(r.into),
    keys: d.keys,
    keyName: r.intoKeyName,
    cache: d.personal.cache,
  });
  let restored = 0;
  let dropped = 0;
  for await (const o of r.target.list(keyringPrefix(r.source, r.chain), r.call)) {
    const bytes = await r.target.get(o.key, r.call);
    if (!bytes) continue;
    const entry = JSON.parse(Buffer.from(bytes).toString('utf8')) as KeyringEntry;
    if (entry?.v !== 1 || typeof entry.subjectRef !== 'string' || typeof entry.keyId !== 'string') continue;
    if (erased(entry.subjectRef, entry.keyId)) {
      dropped++;
      continue;
    }
    const wrapped = await rewrapSubjectKey(
      d.keys,
      { keyName: await d.sourceKeyName(entry.wrapped.keyId), wrapped: entry.wrapped },
      r.intoKeyName,
    );
    await ring.put({ ...entry, wrapped });
    restored++;
  }
  return { restored, dropped, erasuresRecorded };
}
