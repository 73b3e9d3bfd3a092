/**
 * Writing a tenant's backup to one tier. A run ships the commits after the last confirmed
 * manifest as one or more segments (gzip NDJSON, encrypted in the client-side-encryption v2
 * region layout with a fresh data key wrapped by the tenant's key), then writes the manifest. A
 * crash between the two leaves an unreferenced segment and no gap: the next run starts again
 * from the last manifest's checkpoint. Retention deletes the chains the calendar no longer keeps.
 */
import { shipKeyring, shipKeys } from '../erasure/backup-keyring';
import { KEYRING_PREFIX } from '../erasure/keyring';
import { rawEvents } from '../erasure/vault';
import { isAppError } from '../../domain/errors';
import { AppError } from '../../domain/errors';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { TenantLease } from '../../ports/tenant-stores';
import { encryptStream, withNewContentKey, wrapContentKey } from '../../crypto';
import { manifestMac } from './binding';
import {
  chainPrefix,
  chainToWrite,
  completeKey,
  encodeSegment,
  fileKey,
  fileMetaKey,
  filesPrefix,
  type Manifest,
  manifestBytes,
  manifestKey,
  newManifest,
  parseStored,
  sha256,
} from './chain-format';
import { COVERAGE_FORMAT, type CoverageMarker, coverageKey, newestCoverage } from './coverage';
import type { BackupDeps } from './deps';
import { collect, listChains, manifestKeys, once } from './reader';
import { DEFAULT_RETENTION, type RetentionPolicy, retentionPlan } from './retention';
import { errorMessage } from '../../redact';

export interface BackupRunResult {
  tier: string;
  ok: boolean;
  segments: number;
  commits: number;
  /** File blobs copied (as ciphertext) in this run. */
  files?: number;
  /** The chain this run extended or started. */
  chain?: number;
  lastTimestamp: string | null;
  /** The chain now covers every commit stamped at or before this instant (set when ok). */
  coveredUntil?: string;
  /**
   * Files the log references that could not be copied because the file store has lost them
   * (and the tier has no copy): the backup is incomplete, so `ok` is false.
   */
  missingFiles?: { count: number; names: string[] };
  /** Set when the log had not moved since the last backup on this tier: nothing was read or listed. */
  unchanged?: true;
  error?: string;
}

/** Backs `tenant` up to `target`: never throws, the result says what happened. `full` starts a new chain. */
export async function backupTenant(
  d: BackupDeps,
  tenant: string,
  target: BackupTarget,
  options: { maxCommitsPerSegment?: number; full?: boolean; abortSignal?: AbortSignal } = {},
): Promise<BackupRunResult> {
  const max = options.maxCommitsPerSegment ?? 5000;
  const call: TargetCallOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const result: BackupRunResult = { tier: target.name, ok: true, segments: 0, commits: 0, lastTimestamp: null };
  let lease: TenantLease | undefined;
  try {
    // The key first: no segment on a tier without the key that opens it escrowed there.
    await d.escrow?.escrowTenant(tenant, target, call);
    const { chain, complete: isComplete } = chainToWrite(await listChains(tenant, target, call), options.full ?? false);
    result.chain = chain;
    const keys = await manifestKeys(tenant, target, chain, call);
    let previous: string | null = null;
    let checkpoint: string | undefined;
    let seq = 1;
    const lastKey = keys.at(-1);
    if (lastKey) {
      const bytes = await target.get(lastKey, call);
      if (!bytes) throw new AppError('unavailable', `Manifest ${lastKey} vanished.`);
      const m = parseStored<Manifest>(bytes);
      previous = sha256(bytes);
      checkpoint = m.checkpoint;
      seq = m.seq + 1;
      result.lastTimestamp = m.segment.lastTimestamp;
    }
    // The tenant's log and key name, leased behind the ready-check for the rest of the run
    // (transient: a tenant opened only for its backup is closed again after it).
    lease = await d.stores.acquire(tenant, { ...call, transient: true });
    const { keyName } = lease.stores;
    // The log as stored: personal values stay sealed under their subject keys (issue 14).
    const events = rawEvents(lease.stores.events);
    // Subject keys before the commits sealed under them, and erasures (issue 14).
    if (d.personal) await shipKeyring(d.personal, events, tenant, target, chain, call, d.log);
    // Files this run's commits reference: each must reach the tier (or is reported lost).
    const referenced = new Set<string>();
    let readAt: Date;
    for (;;) {
      options.abortSignal?.throwIfAborted();
      readAt = d.clock.now();
      const page = await events.readFeed(checkpoint, { maxCount: max });
      if (page.commits.length === 0) break;
      for (const c of page.commits)
        for (const e of c.events) if (e.type === 'FileAttached') referenced.add((e.data as { blobName: string }).blobName);
      const plain = encodeSegment(page.commits);
      // The data key lives only inside this scope (zeroed on every path); the manifest is
      // sealed with a MAC derived from it, binding it to this tenant, chain and place.
      const { cipher, manifest } = await withNewContentKey(async (cek) => {
        const wrapped = await wrapContentKey(d.keys, keyName, cek);
        const cipher = await collect(encryptStream(once(plain), cek).regions);
        const manifest = newManifest({
          tenant,
          chain,
          seq,
          previous,
          segmentSha256: sha256(cipher),
          size: cipher.length,
          timestamps: page.commits.map((c) => c.timestamp),
          checkpoint: page.checkpoint,
          wrappedKey: wrapped,
          createdAt: d.clock.now().toISOString(),
        });
        manifest.mac = manifestMac(cek, manifest, chain);
        return { cipher, manifest };
      });
      await target.put(manifest.segment.key, cipher, call);
      const bytes = manifestBytes(manifest);
      await target.put(manifestKey(tenant, chain, seq), bytes, call);
      previous = sha256(bytes);
      checkpoint = page.checkpoint;
      seq++;
      result.segments++;
      result.commits += page.commits.length;
      result.lastTimestamp = manifest.segment.lastTimestamp;
      // A short page reached the log's end as it was at `readAt` (EventStore.readFeed): the
      // chain now holds every commit stamped up to then. Reading on would chase a tenant that
      // never pauses (each read finding the few commits made while the last segment was
      // written) until the tier deadline; what comes later is the next run's.
      if (page.commits.length < max) break;
    }
    // Subject keys of commits appended while the log was being read (issue 14): the chain
    // holds every key its segments need before it is marked complete or covered.
    if (d.personal && result.segments > 0) await shipKeys(d.personal, events, tenant, target, chain, call);
    // The log has been read to its end: this chain is a complete history (base reached).
    if (!isComplete)
      await target.put(
        completeKey(tenant, chain),
        Buffer.from(JSON.stringify({ at: d.clock.now().toISOString(), manifests: seq - 1 })),
        call,
      );
    // Files lost earlier stay reported until they come back (the chain's own marker says
    // which; run coverage markers list only tenants whose last backup lost none).
    const before = await newestCoverage(target, chainPrefix(tenant, chain), call);
    for (const name of before?.missingFiles ?? []) referenced.add(name);
    const files = await backupFiles(d, tenant, target, referenced, call);
    result.files = files.copied;
    // What this run proved: the chain holds every commit stamped up to `readAt`.
    const coveredUntil = readAt.toISOString();
    const marker: CoverageMarker = {
      format: COVERAGE_FORMAT,
      tenant,
      chain,
      at: coveredUntil,
      manifests: seq - 1,
      missingFiles: files.missing,
    };
    await target
      .put(coverageKey(chainPrefix(tenant, chain), coveredUntil), Buffer.from(JSON.stringify(marker)), call)
      .catch((e: unknown) => {
        // Two runs in the same millisecond: the other one wrote the same instant.
        if (!(isAppError(e) && e.code === 'conflict')) throw e;
      });
    result.coveredUntil = coveredUntil;
    if (files.missing.length) {
      result.ok = false;
      result.missingFiles = { count: files.missing.length, names: files.missing.slice(0, 20) };
      result.error = `${files.missing.length} file(s) the log references could not be copied: the file store no longer has them and neither has this tier (the log itself is backed up)`;
      d.log?.(`backup of tenant ${tenant} to ${target.name}: ${result.error}`);
    }
  } catch (e) {
    result.ok = false;
    result.error = errorMessage(e);
    d.log?.(`backup of tenant ${tenant} to ${target.name} failed: ${result.error}`);
  } finally {
    lease?.release();
  }
  return result;
}

/**
 * Files: each blob of the tenant is copied as it is stored — ciphertext, with its
 * `encryptiondata` (the content key wrapped by the tenant's key) — to
 * `files/<blob name>` plus a `.meta.json` written after the data, which marks the copy
 * complete. Blobs never change after upload (rotation re-wraps only metadata, and the older
 * wrapping stays valid), so each is copied once. Integrity is checked where it is read:
 * GCM tags per region and the size recorded in the FileAttached event.
 */
async function backupFiles(
  d: BackupDeps,
  tenant: string,
  target: BackupTarget,
  referenced: ReadonlySet<string>,
  call: TargetCallOptions,
): Promise<{ copied: number; missing: string[] }> {
  if (!d.blobs) return { copied: 0, missing: [] };
  const store = await d.blobs.forTenant(tenant);
  const have = new Set<string>();
  for await (const o of target.list(filesPrefix(tenant), call)) have.add(o.key);
  const copiedBefore = (name: string) => have.has(fileKey(tenant, name)) && have.has(fileMetaKey(tenant, name));
  const inStore = new Set<string>();
  let copied = 0;
  for await (const b of store.list()) {
    // Subject keys are not files: they go with each run's keyring object, never write-once.
    if (b.name.startsWith(KEYRING_PREFIX)) continue;
    inStore.add(b.name);
    const key = fileKey(tenant, b.name);
    if (copiedBefore(b.name)) continue;
    if (!have.has(key)) await target.putStream(key, await store.download(b.name), b.size, call);
    if (!have.has(fileMetaKey(tenant, b.name)))
      await target.put(
        fileMetaKey(tenant, b.name),
        Buffer.from(JSON.stringify({ name: b.name, size: b.size, metadata: b.metadata })),
        call,
      );
    copied++;
  }
  // A referenced file is lost when the store no longer has it and the tier has no full copy.
  const missing = [...referenced].filter((name) => !inStore.has(name) && !copiedBefore(name)).sort();
  return { copied, missing };
}

/**
 * Retention (the calendar in retention.ts, as of the service clock's now): deletes every
 * object of the chains it does not keep. Targets under an immutability policy refuse deletions
 * until it expires; those are reported, not fatal.
 */
export async function applyRetention(
  d: Pick<BackupDeps, 'clock'>,
  tenant: string,
  target: BackupTarget,
  policy: RetentionPolicy = DEFAULT_RETENTION,
  call: TargetCallOptions = {},
): Promise<{ kept: number[]; deleted: number[]; refused: number }> {
  const plan = retentionPlan(await listChains(tenant, target, call), policy, d.clock.now());
  let refused = 0;
  for (const chain of plan.drop) {
    for await (const o of target.list(chainPrefix(tenant, chain), call)) {
      try {
        await target.delete(o.key, call);
      } catch {
        refused++;
      }
    }
  }
  return { kept: plan.keep, deleted: plan.drop, refused };
}
