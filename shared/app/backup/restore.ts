/**
 * Restoring a tenant's backup from one tier into a new tenant (POST …/backups/restore, the
 * drills, the disaster-recovery drill), and removing what a restore or drill built.
 */
import { ERASURES_STREAM } from '../../domain/erasure';
import { AppError } from '../../domain/errors';
import type { Commit } from '../../domain/events';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { WrappedKey } from '../../ports/key-provider';
import type { OperationOptions } from '../../ports/options';
import { contentKeyCheck } from '../file-binding';
import { encryptionDataJson, findEncryptionData, parseEncryptionData, withContentKey, wrapContentKey } from '../../crypto';
import type { ProgressSink } from '../progress';
import { markErasuresApplied, runProjector, StateCarry } from '../projector';
import { BULK_BATCH } from '../projector-feed';
import type { RequestInfo } from '../service';
import { authorizeBackupCaller, type BackupCaller } from './caller';
import { chainBroken, cryptoErrorCode, fileKey, fileMetaKey, parseStored } from './chain-format';
import { restoreKeyring } from '../erasure/backup-keyring';
import { pauseRestoredSubscriptions } from '../webhooks/restored';
import { tenantCoverage } from './coverage';
import type { BackupDeps, BuildContext } from './deps';
import { readChain, sourceKeyNames, verify } from './reader';

/** What a restore answers. */
export interface RestoreResult {
  id: string;
  commits: number;
  files: number;
  /** The restored state is the tenant's state as of this instant. */
  restoredUntil: string;
  /** How far the tier's backup reaches: every commit stamped up to this instant is in it. */
  coveredUntil: string;
  /** True when `asOf` was beyond `coveredUntil` and the caller accepted the partial restore. */
  partial: boolean;
  /** Files the restored log references that the backup does not have (not restored). */
  missingFiles: string[];
}

/** One restore: `tenant`'s backup on `target`, as of `asOf`, into the new tenant `into`. */
export interface RestoreInput {
  tenant: string;
  target: BackupTarget;
  asOf: Date;
  into: string;
}

export interface RestoreOptions extends RequestInfo, OperationOptions {
  onProgress?: ProgressSink | undefined;
  /** Restore what the tier has when `asOf` is beyond its coverage (else 422). */
  acceptPartial?: boolean | undefined;
}

/** A restore with its caller: an operator or a timer (caller.ts). */
export type RestoreRequest = RestoreInput & RestoreOptions & { caller: BackupCaller };

/**
 * Restores `tenant` from `target` as of `asOf` (event precision: exactly the commits
 * stamped at or before it) into the new tenant `into`. The chain is verified first, so a
 * tampered backup is refused before anything is created.
 *
 * The answer says what was restored: `restoredUntil` is the instant the restored state is
 * that of. A tier covers the log only up to its last backup run (`coveredUntil`); an `asOf`
 * beyond that is refused (422) unless `acceptPartial` is set, and then `restoredUntil` is the
 * coverage, not `asOf`. Files the log references that the tier does not have are listed in
 * `missingFiles`; the log and every other file are restored.
 *
 * The new tenant stays "creating" (not served) until its files and projections are in place.
 * A crash before that leaves it "creating", marked as a restore target: it is removed at the
 * next start, or when a restore asks for its id again, so the id is never blocked.
 */
export async function restore(ctx: BuildContext, r: RestoreRequest): Promise<RestoreResult> {
  authorizeBackupCaller(r.caller);
  if (ctx.leftovers.isBuilding(r.into)) throw new AppError('conflict', `A restore into "${r.into}" is already running.`);
  ctx.leftovers.begin(r.into);
  try {
    return await restoreMarked(ctx, r);
  } finally {
    ctx.leftovers.end(r.into);
  }
}

/** restore(), for a target id already marked as being built here (restore, drill). */
export async function restoreMarked(ctx: BuildContext, r: RestoreRequest): Promise<RestoreResult> {
  const operator = authorizeBackupCaller(r.caller);
  const { tenant, target, asOf, into, onProgress } = r;
  const call: TargetCallOptions = r.abortSignal ? { abortSignal: r.abortSignal } : {};
  // A taken id is refused before the backup is read (what a crashed restore left does not count).
  const existing = await ctx.directory.getMeta(into);
  if (existing && !ctx.leftovers.isLeftover(into, existing, true)) throw new AppError('conflict', `Tenant "${into}" already exists.`);
  const check = await verify(ctx, tenant, target, { until: asOf, call, ...(onProgress ? { onProgress } : {}) });
  if (!check.ok)
    throw new AppError('unprocessable', `The backup of ${tenant} on ${target.name} failed verification: ${check.problems.join('; ')}`);
  if (check.manifests === 0 || check.chain === undefined)
    throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
  // The chain's own marker or a later run's marker that lists it (coverage.ts); backups
  // written before coverage markers existed: the last backed-up commit.
  const covered = await tenantCoverage(target, tenant, check.chain, check.manifests, call);
  const coveredUntil = covered.coveredUntil ?? check.lastTimestamp ?? asOf.toISOString();
  const partial = asOf.getTime() > Date.parse(coveredUntil);
  if (partial && !r.acceptPartial) {
    throw new AppError(
      'unprocessable',
      `The backup of ${tenant} on ${target.name} covers the log only up to ${coveredUntil}, before the requested ${asOf.toISOString()}. Restore as of ${coveredUntil} or earlier, or send "acceptPartial": true to restore what the tier has (up to ${coveredUntil}).`,
    );
  }
  const restoredUntil = partial ? coveredUntil : asOf.toISOString();
  // The id may hold what a crashed restore left; that never blocks it.
  await ctx.leftovers.reclaimAbandoned(into);
  // Note the blobs the restored log references (with the content key check its event
  // recorded) while it streams by.
  const blobNames = new Map<string, string | undefined>();
  const chain = readChain(ctx, tenant, target, { until: asOf, chain: check.chain, call });
  async function* noting(): AsyncGenerator<Commit> {
    for await (const c of chain) {
      for (const e of c.events) {
        if (e.type === 'FileAttached') {
          const f = e.data as { blobName: string; keyCheck?: string };
          blobNames.set(f.blobName, f.keyCheck);
        }
      }
      yield c;
    }
  }
  let files: { restored: number; missing: string[] } = { restored: 0, missing: [] };
  onProgress?.({ phase: 'import', done: 0, ...(check.commitsUntil !== undefined ? { total: check.commitsUntil } : {}) });
  const restored = await ctx.tenants.restoreTenant(
    operator,
    {
      id: into,
      name: `${tenant} as of ${restoredUntil}`,
      commits: noting(),
      details: { source: tenant, tier: target.name, asOf: asOf.toISOString(), restoredUntil },
    },
    {
      correlationId: r.correlationId,
      onProgress: (n) =>
        onProgress?.({ phase: 'import', done: n, ...(check.commitsUntil !== undefined ? { total: check.commitsUntil } : {}) }),
      // Before the tenant is served: its files, then its projections (usable means lists,
      // audit and export work too).
      beforeReady: async (keyName, imported) => {
        try {
          files = await restoreFiles(ctx, { source: tenant, into, keyName, target, blobNames }, { onProgress, ...call });
          // Subject keys not erased (issue 14), before anything reads the restored log.
          if (ctx.personal && ctx.blobs)
            await restoreKeyring(
              { personal: ctx.personal, keys: ctx.keys, blobs: ctx.blobs, sourceKeyName: sourceKeyNames(ctx, tenant) },
              {
                source: tenant,
                sourceEvents: await liveSourceLog(ctx, tenant),
                into,
                intoEvents: await ctx.directory.openEventStore(into),
                intoKeyName: keyName,
                target,
                chain: check.chain!,
                call,
                ...(r.correlationId ? { correlationId: r.correlationId } : {}),
              },
            );
          // Webhook subscriptions come back paused, at the restored log's end (webhooks/restored.ts).
          await pauseRestoredSubscriptions(ctx, {
            source: tenant,
            restoredUntil,
            into,
            events: await ctx.directory.openEventStore(into),
            keyName,
            sourceKeyName: sourceKeyNames(ctx, tenant),
            author: { kind: 'operator', id: operator.id },
            ...(r.correlationId ? { correlationId: r.correlationId } : {}),
          });
          await projectRestored(ctx, into, imported, onProgress);
        } catch (e) {
          // restoreTenant removes the store and key; the copied files go too.
          await ctx.blobs?.deleteTenant(into).catch(() => undefined);
          throw e;
        }
      },
    },
  );
  return { ...restored, files: files.restored, restoredUntil, coveredUntil, partial, missingFiles: files.missing };
}

/** The source tenant's log when it still exists and is not itself being restored (its erasures count). */
async function liveSourceLog(d: BackupDeps, tenant: string) {
  const meta = await d.directory.getMeta(tenant).catch(() => undefined);
  if (!meta || meta.status === 'creating') return undefined;
  return d.directory.openEventStore(tenant).catch(() => undefined);
}

/** Removes a tenant made by a restore or a drill: store, key and files. */
export async function removeBuiltTenant(d: BackupDeps, id: string): Promise<void> {
  d.stores.forget(id);
  d.records?.forget(id);
  const meta = await d.directory.getMeta(id).catch(() => undefined);
  await d.blobs?.deleteTenant(id).catch(() => undefined);
  await d.directory.destroy(id).catch(() => undefined);
  if (meta) await d.keys.deleteKey(meta.keyName).catch(() => undefined);
}

/**
 * Copies the file blobs the restored log references into the new tenant's container, with
 * each content key re-wrapped by the new tenant's key (the ciphertext is copied unchanged).
 */
async function restoreFiles(
  d: BackupDeps,
  files: {
    source: string;
    into: string;
    /** The new tenant's key, which re-wraps each content key. */
    keyName: string;
    target: BackupTarget;
    /** The blobs the restored log references, with the content key check each FileAttached recorded. */
    blobNames: Map<string, string | undefined>;
  },
  options: TargetCallOptions & { onProgress?: ProgressSink | undefined },
): Promise<{ restored: number; missing: string[] }> {
  const { source, into, keyName, target, blobNames } = files;
  const { onProgress, ...call } = options;
  const missing: string[] = [];
  if (!d.blobs || blobNames.size === 0) return { restored: 0, missing };
  const store = await d.blobs.forTenant(into);
  const sourceKeys = sourceKeyNames(d, source);
  let n = 0;
  for (const [name, keyCheck] of blobNames) {
    const metaBytes = await target.get(fileMetaKey(source, name), call);
    // A file the backup does not have is listed in the answer; the log and every other file
    // still come back (its downloads answer that the stored file is missing).
    if (!metaBytes) {
      missing.push(name);
      continue;
    }
    let meta: { name: string; size: number; metadata: Record<string, string> };
    try {
      meta = parseStored<typeof meta>(metaBytes);
    } catch {
      throw chainBroken(`file ${name} has a .meta.json that is not JSON`);
    }
    if (
      typeof meta !== 'object' ||
      meta === null ||
      typeof meta.metadata !== 'object' ||
      meta.metadata === null ||
      Object.values(meta.metadata).some((v) => typeof v !== 'string')
    ) {
      throw chainBroken(`file ${name} has a .meta.json without string metadata`);
    }
    let wrapped: WrappedKey;
    try {
      const json = findEncryptionData(meta.metadata);
      if (!json) throw chainBroken(`file ${name} has no encryption metadata`);
      const ed = parseEncryptionData(json);
      // Only the source tenant's own key, and only the content key the restored log recorded
      // for this blob (FileAttached.keyCheck, when the event has one).
      wrapped = await withContentKey(d.keys, await sourceKeys(ed.keyId), ed, async (cek) => {
        if (keyCheck !== undefined && contentKeyCheck(cek, name) !== keyCheck) {
          throw chainBroken(
            `file ${name} in the backup does not hold the content key its FileAttached event recorded (replaced or swapped)`,
          );
        }
        return wrapContentKey(d.keys, keyName, cek);
      });
    } catch (e) {
      const code = cryptoErrorCode(e);
      if (code !== undefined) {
        throw chainBroken(
          code === 'wrong-key'
            ? `file ${name} in the backup is not wrapped by a key of tenant ${source} (a foreign or corrupt file)`
            : `file ${name} has invalid encryption metadata`,
        );
      }
      throw e;
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta.metadata)) if (k.toLowerCase() !== 'encryptiondata') metadata[k] = v;
    metadata.encryptiondata = encryptionDataJson(wrapped);
    const body = await target.getStream(fileKey(source, name), call);
    if (!body) {
      missing.push(name);
      continue;
    }
    await store.upload(name, body, { metadata });
    n++;
    onProgress?.({ phase: 'files', done: n, total: blobNames.size });
  }
  return { restored: n, missing: missing.sort() };
}

/** Runs the restored tenant's projections to the end of its log before it is served. */
async function projectRestored(d: BackupDeps, into: string, commits: number, onProgress?: ProgressSink): Promise<void> {
  const events = await d.directory.openEventStore(into);
  const projections = await d.directory.openProjectionStore(into);
  const gen = await projections.activeGeneration();
  // Erasures are applied to the restored log before this (a fresh generation built after them).
  const erasures = await events.streamVersion(ERASURES_STREAM);
  let projected = 0;
  onProgress?.({ phase: 'project', done: 0, total: commits });
  // One carry for the whole log (each commit folded once) and snapshots left on the way: the
  // imported log has none, and the first read of a long record must not replay it from the start.
  const carry = new StateCarry();
  for (;;) {
    const r = await runProjector(events, projections, gen, {
      clock: d.clock,
      maxPages: 1,
      batchSize: BULK_BATCH,
      carry,
      snapshots: true,
      ...(d.log ? { log: d.log } : {}),
    });
    if (r.failed) throw new AppError('unavailable', `The projections of the restored tenant ${into} failed; nothing was kept, try again.`);
    if (r.applied === 0) break;
    projected += r.applied;
    onProgress?.({ phase: 'project', done: projected, total: commits });
  }
  await markErasuresApplied(projections, gen, erasures, d.clock);
}
