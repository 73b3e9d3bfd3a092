/** File upkeep of a tenant: sweeping orphaned and unfinished blobs, re-wrapping content keys after a key rotation. */
import { parseRecordStreamId, type RecordEvent, recordStreamId } from '../../domain/records';
import type { WrappedKey } from '../../ports/key-provider';
import type { TenantLease } from '../../ports/tenant-stores';
import type { OperationOptions } from '../../ports/options';
import {
  encryptionDataJson,
  findEncryptionData,
  parseEncryptionData,
  withContentKey,
  withNewContentKey,
  wrapContentKey,
} from '../../crypto';
import { readStreamPages } from '../record-reader';
import { type FileServiceDeps, isCryptoError } from './common';

export interface SweepOrphansOptions extends OperationOptions {
  /** Only blobs older than this are touched (uploads in flight are safe); default one hour. */
  minAgeMs?: number;
}

/**
 * Deletes blobs that no FileAttached event references (an upload that crashed between
 * writing the blob and appending its event), and what uploads that never finished left in
 * the store (staged blocks, temp files: a crash mid-upload). Only what is older than
 * `minAgeMs` is touched, so uploads in flight are safe.
 */
export async function sweepOrphans(
  d: FileServiceDeps,
  tenantId: string,
  options: SweepOrphansOptions = {},
): Promise<{ checked: number; deleted: number; unfinished: number; unfinishedBytes: number }> {
  const minAgeMs = options.minAgeMs ?? 60 * 60_000;
  const blobs = await d.blobs.forTenant(tenantId);
  // The log is opened only when a blob needs it (a tenant without files is never opened), by a
  // transient lease: a tenant opened only for the sweep is closed again when the sweep ends.
  let lease: TenantLease | undefined;
  const referenced = new Map<string, Set<string>>();
  let checked = 0;
  let deleted = 0;
  const now = d.clock.now().getTime();
  try {
    for await (const b of blobs.list()) {
      checked++;
      if (now - b.createdOn.getTime() < minAgeMs) continue;
      const [type, id] = b.name.split('/');
      const streamId = type && id ? recordStreamId(type, id) : '';
      if (!parseRecordStreamId(streamId)) continue;
      let names = referenced.get(streamId);
      if (!names) {
        names = new Set();
        lease ??= await d.tenants.tenantStores.acquire(tenantId, { transient: true });
        // Paged and yielding: a record's stream can be long (the sweeper is a timer on the shared loop).
        for await (const page of readStreamPages(lease.stores.events, streamId)) {
          for (const c of page) for (const e of c.events as RecordEvent[]) if (e.type === 'FileAttached') names.add(e.data.blobName);
        }
        referenced.set(streamId, names);
      }
      if (!names.has(b.name)) {
        await blobs.delete(b.name);
        deleted++;
        d.log?.(`deleted orphan blob ${b.name} of tenant ${tenantId}`);
      }
    }
  } finally {
    lease?.release();
  }
  const unfinished = await blobs.sweepUnfinished({ olderThan: new Date(now - minAgeMs) });
  return { checked, deleted, unfinished: unfinished.removed, unfinishedBytes: unfinished.bytes };
}

/**
 * Rotates the tenant's key: a new key version, then every file's content key is unwrapped
 * and re-wrapped with it (blob metadata only; content is not re-encrypted). Resumable: blobs
 * already wrapped by the newest version are skipped, and older versions stay usable for
 * decryption throughout.
 */
export async function rotateKey(
  d: FileServiceDeps,
  tenantId: string,
  options: { newVersion: boolean; onProgress?: (done: number, rewrapped: number) => void },
): Promise<{ keyId: string; checked: number; rewrapped: number; refused?: number }> {
  const keyName = await d.tenants.keyName(tenantId);
  const blobs = await d.blobs.forTenant(tenantId);
  const keyId = options.newVersion
    ? (await d.keys.rotateKey(keyName)).keyId
    : await withNewContentKey(async (probe) => (await wrapContentKey(d.keys, keyName, probe)).keyId);
  let checked = 0;
  let rewrapped = 0;
  let refused = 0;
  for await (const b of blobs.list()) {
    checked++;
    const json = findEncryptionData(b.metadata);
    if (!json) continue;
    let ed: ReturnType<typeof parseEncryptionData>;
    try {
      ed = parseEncryptionData(json);
    } catch (e) {
      // Garbage metadata cannot be re-wrapped either (downloads answer 502 for it): report it, keep rotating.
      refused++;
      d.log?.(
        `key rotation of tenant ${tenantId}: blob ${b.name} has invalid encryption metadata (${(e as Error).message}); left as it is`,
      );
      options.onProgress?.(checked, rewrapped);
      continue;
    }
    if (ed.keyId !== keyId) {
      let wrapped: WrappedKey;
      try {
        // Unwrapped only with the tenant's own key; every copy of the content key is zeroed.
        wrapped = await withContentKey(d.keys, keyName, ed, (cek) => wrapContentKey(d.keys, keyName, cek));
      } catch (e) {
        if (!isCryptoError(e) || (e as { code?: string }).code !== 'wrong-key') throw e;
        // Not this tenant's key (planted by whoever administers the storage, or corrupt): it
        // cannot be re-wrapped, and downloads refuse it anyway. Report it, keep rotating.
        refused++;
        d.log?.(`key rotation of tenant ${tenantId}: blob ${b.name} is not wrapped by the tenant's own key; left as it is`);
        options.onProgress?.(checked, rewrapped);
        continue;
      }
      const metadata = { ...b.metadata };
      for (const k of Object.keys(metadata)) if (k.toLowerCase() === 'encryptiondata') delete metadata[k];
      metadata.encryptiondata = encryptionDataJson(wrapped);
      await blobs.setMetadata(b.name, metadata, b.etag);
      rewrapped++;
    }
    options.onProgress?.(checked, rewrapped);
  }
  return { keyId, checked, rewrapped, ...(refused > 0 ? { refused } : {}) };
}
