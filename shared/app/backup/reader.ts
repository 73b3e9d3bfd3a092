/**
 * Reading a tenant's backup chains on a tier: which chains there are, and the walk that checks
 * one link by link and yields its commits (verify and restore use exactly this walk).
 */
import { createHash } from 'node:crypto';
import type { Commit } from '../../domain/events';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import { decryptStream, withContentKey } from '../../crypto';
import type { ProgressSink } from '../progress';
import { TimeSlice } from '../yield';
import { BACKUP_FORMAT_V1, BACKUP_FORMAT_V2, isKeyNameOfTenant, keyNameOfKeyId, manifestMacMatches } from './binding';
import {
  type ChainInfo,
  chainBroken,
  chainObjectOf,
  chainsPrefix,
  checkManifest,
  checkSegment,
  cryptoErrorCode,
  type Manifest,
  manifestsPrefix,
  parseStored,
  segmentLayout,
  segmentLines,
  sha256,
} from './chain-format';
import type { BackupDeps } from './deps';

export interface VerifyResult {
  tier: string;
  ok: boolean;
  /** The chain that was verified (the newest complete one). */
  chain?: number;
  manifests: number;
  commits: number;
  /** Commits stamped at or before `until`, when verify was given one. */
  commitsUntil?: number;
  lastTimestamp: string | null;
  problems: string[];
  /** E.g. legacy unbound segments (format /1, written before manifests were bound to their tenant). */
  warnings?: string[];
}

export interface ReadChainOptions {
  until?: Date;
  chain?: number | undefined;
  onLegacySegment?: (segmentKey: string) => void;
  call?: TargetCallOptions;
}

type ReaderDeps = Pick<BackupDeps, 'keys' | 'directory'>;

/**
 * The tenant's chains on a target. Every chain starts at the beginning of the log (a base)
 * and grows by increments; it is complete once its base reached the end of the log. The
 * daily full run starts a new chain; incremental runs extend the newest complete one.
 */
export async function listChains(tenant: string, target: BackupTarget, call: TargetCallOptions = {}): Promise<ChainInfo[]> {
  const found = new Map<number, ChainInfo>();
  for await (const o of target.list(chainsPrefix(tenant), call)) {
    const what = chainObjectOf(o.key);
    if (!what) continue;
    const c = found.get(what.chain) ?? { chain: what.chain, complete: false, manifests: 0 };
    if (what.kind === 'complete') {
      c.complete = true;
      const marker = await target.get(o.key, call);
      c.completedAt = marker ? parseStored<{ at: string }>(marker).at : o.lastModified.toISOString();
    } else c.manifests++;
    found.set(what.chain, c);
  }
  return [...found.values()].sort((a, b) => a.chain - b.chain);
}

/** The newest complete chain (what restores, verifies, drills and increments use). */
export async function currentChain(tenant: string, target: BackupTarget, call: TargetCallOptions = {}): Promise<number | undefined> {
  return (await listChains(tenant, target, call)).filter((c) => c.complete).at(-1)?.chain;
}

/** Manifests of one chain, in order (not verified). */
export async function manifestKeys(
  tenant: string,
  target: BackupTarget,
  chain: number | undefined,
  call: TargetCallOptions = {},
): Promise<string[]> {
  if (chain === undefined) return [];
  const keys: string[] = [];
  for await (const o of target.list(manifestsPrefix(tenant, chain), call)) keys.push(o.key);
  return keys.sort();
}

/**
 * The last manifest of the newest complete chain (not verified), with the number of manifests
 * and `identity`: chain, place and SHA-256 of the manifest's exact bytes (what a drill proved).
 */
export async function lastManifest(
  tenant: string,
  target: BackupTarget,
  call: TargetCallOptions = {},
): Promise<{ chain: number | undefined; manifests: number; last: Manifest | undefined; identity: string | undefined }> {
  const chain = await currentChain(tenant, target, call);
  const keys = await manifestKeys(tenant, target, chain, call);
  const lastKey = keys.at(-1);
  const bytes = lastKey ? await target.get(lastKey, call) : undefined;
  return {
    chain,
    manifests: keys.length,
    last: bytes ? parseStored<Manifest>(bytes) : undefined,
    identity: bytes ? `${chain}/${keys.length}/${createHash('sha256').update(bytes).digest('hex')}` : undefined,
  };
}

/**
 * Which key name a segment's or backed-up file's data key must be wrapped by: the source
 * tenant's own key (from its meta). When the source tenant's store is gone (a disaster
 * restore), the key id must name a key created for that tenant id (`tenant-<id>-<8 hex>`).
 * The key provider then refuses any key id that is not a version of that name.
 */
export function sourceKeyNames(d: Pick<BackupDeps, 'directory'>, tenant: string): (keyId: string) => Promise<string> {
  let own: Promise<string | undefined> | undefined;
  return async (keyId) => {
    // A tenant being restored under the source's own id (a disaster restore) is not the source.
    own ??= d.directory.getMeta(tenant).then((m) => (m && !(m.status === 'creating' && m.restoring) ? m.keyName : undefined));
    const name = await own;
    if (name !== undefined) return name;
    const named = keyNameOfKeyId(keyId);
    if (named !== undefined && isKeyNameOfTenant(named, tenant)) return named;
    throw chainBroken(`a data key of the backup of ${tenant} is not wrapped by a key of that tenant`);
  };
}

/**
 * Walks the chain: every manifest in sequence, linked by hash to its predecessor, its
 * segment present with the recorded SHA-256, decryptable and parseable. Yields the
 * commits (optionally only those at or before `until`) — restore uses exactly this.
 */
export async function* readChain(
  d: ReaderDeps,
  tenant: string,
  target: BackupTarget,
  options: ReadChainOptions = {},
): AsyncGenerator<Commit> {
  const call = options.call ?? {};
  const chain = 'chain' in options ? options.chain : await currentChain(tenant, target, call);
  const keys = await manifestKeys(tenant, target, chain, call);
  const sourceKeys = sourceKeyNames(d, tenant);
  let previous: string | null = null;
  let expectedSeq = 1;
  let bound = false;
  const slice = new TimeSlice();
  for (const key of keys) {
    const bytes = await target.get(key, call);
    if (!bytes) throw chainBroken(`manifest ${key} is missing`);
    const m = checkManifest(key, bytes, { tenant, chain: chain!, seq: expectedSeq, previous, bound });
    const seg = checkSegment(m, await target.get(m.segment.key, call));
    const wk = m.wrappedKey;
    let plain: Buffer;
    try {
      // The data key is unwrapped only with the source tenant's own key (a foreign segment
      // fails here), and the manifest's MAC is checked before anything is decrypted.
      plain = await withContentKey(
        d.keys,
        await sourceKeys(wk.keyId),
        { keyId: wk.keyId, algorithm: wk.algorithm, encryptedKey: wk.wrapped },
        async (cek) => {
          if (m.format === BACKUP_FORMAT_V2) {
            if (!manifestMacMatches(cek, m, chain!, m.mac))
              throw chainBroken(`manifest ${key} failed its MAC: it was altered, moved, or belongs to another tenant or place`);
          } else {
            options.onLegacySegment?.(m.segment.key);
          }
          try {
            return await collect(decryptStream(once(seg), cek, segmentLayout(seg.length)));
          } catch (e) {
            throw chainBroken(`segment ${m.segment.key} failed to decrypt (${(e as { code?: string }).code ?? 'tampered'})`);
          }
        },
      );
    } catch (e) {
      const code = cryptoErrorCode(e);
      if (code !== undefined) {
        throw chainBroken(
          code === 'wrong-key'
            ? `segment ${m.segment.key} is not encrypted with a key of tenant ${tenant} (a foreign or corrupt segment)`
            : `segment ${m.segment.key} has an invalid data key (${code})`,
        );
      }
      throw e;
    }
    if (m.format === BACKUP_FORMAT_V2) bound = true;
    for (const l of segmentLines(plain, m)) {
      await slice.maybeYield();
      const c = JSON.parse(l) as Commit;
      if (!options.until || Date.parse(c.timestamp) <= options.until.getTime()) yield c;
    }
    previous = sha256(bytes);
    expectedSeq++;
  }
}

/** Walks the newest complete chain (readChain) and reports what it holds, or why it is broken. */
export async function verify(
  d: ReaderDeps,
  tenant: string,
  target: BackupTarget,
  options: { until?: Date; onProgress?: ProgressSink; call?: TargetCallOptions } = {},
): Promise<VerifyResult> {
  const call = options.call ?? {};
  const r: VerifyResult = { tier: target.name, ok: true, manifests: 0, commits: 0, lastTimestamp: null, problems: [] };
  const until = options.until?.toISOString();
  if (until) r.commitsUntil = 0;
  try {
    // Chains are listed once (it reads every chain's marker); the walk uses the same chain.
    const chain = await currentChain(tenant, target, call);
    if (chain !== undefined) r.chain = chain;
    const legacy: string[] = [];
    for await (const c of readChain(d, tenant, target, { chain, call, onLegacySegment: (k) => legacy.push(k) })) {
      r.commits++;
      if (until && c.timestamp <= until) r.commitsUntil!++;
      if (!r.lastTimestamp || c.timestamp > r.lastTimestamp) r.lastTimestamp = c.timestamp;
      options.onProgress?.({ phase: 'verify', done: r.commits });
    }
    r.manifests = (await manifestKeys(tenant, target, chain, call)).length;
    if (legacy.length > 0) {
      r.warnings = [
        `${legacy.length} legacy unbound segment(s) (format ${BACKUP_FORMAT_V1}, written before manifests were bound to their tenant by a MAC): their data keys are the tenant's own, but their manifests are not authenticated; the next full backup replaces this chain with a bound one (first: ${legacy[0]})`,
      ];
    }
  } catch (e) {
    r.ok = false;
    r.problems.push((e as Error).message);
  }
  return r;
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

export async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}
