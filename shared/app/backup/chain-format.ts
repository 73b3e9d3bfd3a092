/**
 * The backup chain format, pure: object keys on a tier, the manifest and its checks, and the
 * segment codec (gzip NDJSON of commits). No I/O and no clock: callers pass what they read and
 * the instants they use.
 *
 * Per tenant and tier, under `tenants/<id>/`: `chains/<6 digits>/manifests/<12 digits>.json`,
 * `chains/<n>/segments/<seq>-<sha prefix>.bin`, `chains/<n>/complete.json`,
 * `chains/<n>/covered/<instant>.json` (coverage.ts), `files/<blob name>` (+ `.meta.json`) and
 * `drills/<instant>-<random>.json`. Per tier, outside every tenant's prefix:
 * `runs/covered/<instant>_<random>.json`, one run coverage marker per incremental run over the
 * tenants (coverage.ts; ISO instants sort as text, so the newest is the last key).
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AppError } from '../../domain/errors';
import type { Commit } from '../../domain/events';
import type { WrappedKey } from '../../ports/key-provider';
import { REGION_OVERHEAD, REGION_SIZE } from '../../crypto';

/** Manifests without a MAC (read as legacy unbound segments, see binding.ts). */
export const BACKUP_FORMAT_V1 = 'tenant-ledger-backup/1';
/** Manifests bound to their tenant, chain and place by a MAC (binding.ts). */
export const BACKUP_FORMAT_V2 = 'tenant-ledger-backup/2';

/** The format new manifests are written in (see binding.ts; /1 manifests are still read, as legacy unbound segments). */
export const BACKUP_FORMAT = BACKUP_FORMAT_V2;

/**
 * One link of a tenant's backup chain on one target. Manifests are immutable, numbered
 * objects; each names its segment with the segment's SHA-256 and the SHA-256 of the previous
 * manifest's bytes, so a missing, altered or reordered segment or manifest breaks the chain.
 */
export interface Manifest {
  format: typeof BACKUP_FORMAT_V1 | typeof BACKUP_FORMAT_V2;
  tenant: string;
  seq: number;
  /** SHA-256 (hex) of the previous manifest's exact bytes; null for the first. */
  previous: string | null;
  segment: { key: string; sha256: string; size: number; commits: number; firstTimestamp: string; lastTimestamp: string };
  /** Feed checkpoint after the segment's last commit: where the next run continues. */
  checkpoint: string;
  /** The segment's data key, wrapped by the tenant's key (never stored in plaintext). */
  wrappedKey: WrappedKey;
  encryption: { protocol: '2.0'; algorithm: 'AES_GCM_256'; regionSize: number; compression: 'gzip'; content: 'ndjson-commits' };
  createdAt: string;
  /** Format /2: binds this manifest (and its segment) to the tenant, chain and place (binding.ts). */
  mac?: string;
}

export interface ChainInfo {
  chain: number;
  complete: boolean;
  completedAt?: string;
  manifests: number;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const pad = (n: number) => String(n).padStart(12, '0');

// ------------------------------------------------------------------ object keys

export const tenantPrefix = (tenant: string): string => `tenants/${tenant}/`;
export const chainsPrefix = (tenant: string): string => `${tenantPrefix(tenant)}chains/`;
export const chainPrefix = (tenant: string, chain: number): string => `${chainsPrefix(tenant)}${String(chain).padStart(6, '0')}/`;
export const manifestsPrefix = (tenant: string, chain: number): string => `${chainPrefix(tenant, chain)}manifests/`;
export const manifestKey = (tenant: string, chain: number, seq: number): string => `${manifestsPrefix(tenant, chain)}${pad(seq)}.json`;
export const segmentKey = (tenant: string, chain: number, seq: number, segmentSha256: string): string =>
  `${chainPrefix(tenant, chain)}segments/${pad(seq)}-${segmentSha256.slice(0, 16)}.bin`;
export const completeKey = (tenant: string, chain: number): string => `${chainPrefix(tenant, chain)}complete.json`;
export const filesPrefix = (tenant: string): string => `${tenantPrefix(tenant)}files/`;
/** Where a file blob's ciphertext is copied; its `.meta.json` (written after it) marks the copy complete. */
export const fileKey = (tenant: string, blobName: string): string => `${filesPrefix(tenant)}${encodeURIComponent(blobName)}`;
export const fileMetaKey = (tenant: string, blobName: string): string => `${fileKey(tenant, blobName)}.meta.json`;
export const drillsPrefix = (tenant: string): string => `${tenantPrefix(tenant)}drills/`;
/** A drill record's key: its instant (sortable) and a random suffix the caller draws. */
export const drillKey = (tenant: string, at: string, suffix: string): string =>
  `${drillsPrefix(tenant)}${at.replace(/[:.]/g, '-')}-${suffix}.json`;

/** Where the run coverage markers of a tier are (coverage.ts): outside every tenant's prefix. */
export const RUN_COVERAGE_PREFIX = 'runs/covered/';
/**
 * A run coverage marker's key: the run's instant (sortable) and a random suffix the caller
 * draws; a delta marker (coverage.ts) also names the full marker it rests on, so retention
 * keeps that one without reading anything (`<at>_<suffix>.on.<base at>_<base suffix>.json`).
 */
export const runCoverageKey = (at: string, suffix: string, base?: string): string => {
  const on = base === undefined ? undefined : runCoverageParts(base);
  if (base !== undefined && (!on || on.base !== undefined)) throw new Error(`Not a full run coverage marker key: ${base}`);
  return `${RUN_COVERAGE_PREFIX}${at}_${suffix}${on ? `.on.${on.name}` : ''}.json`;
};
const RUN_KEY = /^([0-9T:.Z+-]+)_([0-9a-z]+)(?:\.on\.([0-9T:.Z+-]+_[0-9a-z]+))?\.json$/;
/** A run coverage marker key's parts: its instant, its name, and for a delta marker the key of the full one it rests on; undefined for a key of another shape. */
export function runCoverageParts(key: string): { at: string; name: string; base?: string } | undefined {
  if (!key.startsWith(RUN_COVERAGE_PREFIX)) return undefined;
  const m = RUN_KEY.exec(key.slice(RUN_COVERAGE_PREFIX.length));
  if (!m) return undefined;
  return { at: m[1]!, name: `${m[1]}_${m[2]}`, ...(m[3] ? { base: `${RUN_COVERAGE_PREFIX}${m[3]}.json` } : {}) };
}
/** The instant in a run coverage marker's key; undefined for a key of another shape. */
export function runCoverageAt(key: string): string | undefined {
  return runCoverageParts(key)?.at;
}

/** What a key listed under chainsPrefix is: a chain's completion marker or one of its manifests. */
export function chainObjectOf(key: string): { chain: number; kind: 'complete' | 'manifest' } | undefined {
  const m = /chains\/(\d{6})\/(complete\.json|manifests\/)/.exec(key);
  if (!m) return undefined;
  return { chain: Number(m[1]), kind: m[2] === 'complete.json' ? 'complete' : 'manifest' };
}

/**
 * Which chain a run writes to. Increments extend the newest complete chain (or finish building
 * the first one); a full run starts a new chain, or resumes a newer chain whose base was interrupted.
 */
export function chainToWrite(all: readonly ChainInfo[], full: boolean): { chain: number; complete: boolean } {
  const newestComplete = all.filter((c) => c.complete).at(-1);
  const newestAny = all.at(-1);
  const chain = full
    ? newestAny && !newestAny.complete
      ? newestAny.chain
      : (newestAny?.chain ?? 0) + 1
    : (newestComplete?.chain ?? newestAny?.chain ?? 1);
  return { chain, complete: all.some((c) => c.chain === chain && c.complete) };
}

// ------------------------------------------------------------------ segments

/** A segment's plaintext: the commits as NDJSON, gzipped. */
export function encodeSegment(commits: readonly Commit[]): Buffer {
  return gzipSync(Buffer.from(`${commits.map((c) => JSON.stringify(c)).join('\n')}\n`));
}

/** The commits' JSON lines of a segment's plaintext, checked against the count its manifest records. */
export function segmentLines(plain: Uint8Array, m: Manifest): string[] {
  const lines = gunzipSync(plain).toString('utf8').split('\n').filter(Boolean);
  if (lines.length !== m.segment.commits)
    throw chainBroken(`segment ${m.segment.key} holds ${lines.length} commits, the manifest says ${m.segment.commits}`);
  return lines;
}

/** The decrypt layout of a stored segment (one gzip blob in v2 regions). */
export function segmentLayout(storedSize: number): { firstRegion: 0; regionCount: number; plainSize: number } {
  const regions = Math.ceil(storedSize / (REGION_SIZE + REGION_OVERHEAD));
  return { firstRegion: 0, regionCount: regions, plainSize: storedSize - regions * REGION_OVERHEAD };
}

// ------------------------------------------------------------------ manifests

/** A new (format /2) manifest, without its MAC (binding.ts adds it with the segment's data key). */
export function newManifest(f: {
  tenant: string;
  chain: number;
  seq: number;
  previous: string | null;
  segmentSha256: string;
  size: number;
  /** The segment's commits' timestamps. */
  timestamps: readonly string[];
  checkpoint: string;
  wrappedKey: WrappedKey;
  createdAt: string;
}): Manifest {
  const stamps = [...f.timestamps].sort();
  return {
    format: BACKUP_FORMAT,
    tenant: f.tenant,
    seq: f.seq,
    previous: f.previous,
    segment: {
      key: segmentKey(f.tenant, f.chain, f.seq, f.segmentSha256),
      sha256: f.segmentSha256,
      size: f.size,
      commits: stamps.length,
      firstTimestamp: stamps[0]!,
      lastTimestamp: stamps.at(-1)!,
    },
    checkpoint: f.checkpoint,
    wrappedKey: f.wrappedKey,
    encryption: { protocol: '2.0', algorithm: 'AES_GCM_256', regionSize: REGION_SIZE, compression: 'gzip', content: 'ndjson-commits' },
    createdAt: f.createdAt,
  };
}

/** The bytes a manifest is stored as (their SHA-256 is the next manifest's `previous`). */
export const manifestBytes = (m: Manifest): Buffer => Buffer.from(JSON.stringify(m, null, 1));

/** Parses JSON the service wrote (a manifest, a drill record, a marker). */
export function parseStored<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
}

/**
 * Checks manifest `key` (its bytes as read) as link `expected.seq` of `chain`: JSON, format,
 * tenant, a well-formed wrapped key, its sequence number and place, and its link to the
 * previous manifest. Once a chain has bound (/2) manifests, an unbound (/1) one is a downgrade.
 * Throws a "Backup chain broken" error; the segment and MAC are checked by the reader.
 */
export function checkManifest(
  key: string,
  bytes: Uint8Array,
  expected: { tenant: string; chain: number; seq: number; previous: string | null; bound: boolean },
): Manifest & { wrappedKey: WrappedKey } {
  let m: Manifest;
  try {
    m = parseStored<Manifest>(bytes);
  } catch {
    throw chainBroken(`manifest ${key} is not valid JSON`);
  }
  if ((m.format !== BACKUP_FORMAT_V2 && m.format !== BACKUP_FORMAT_V1) || m.tenant !== expected.tenant)
    throw chainBroken(`manifest ${key} is not a ${BACKUP_FORMAT} manifest of this tenant`);
  if (m.format === BACKUP_FORMAT_V1 && expected.bound)
    throw chainBroken(`manifest ${key} is a legacy unbound manifest after bound ones (a downgrade)`);
  const wk = m.wrappedKey as Partial<WrappedKey> | undefined;
  if (
    typeof wk !== 'object' ||
    wk === null ||
    typeof wk.keyId !== 'string' ||
    typeof wk.algorithm !== 'string' ||
    typeof wk.wrapped !== 'string'
  )
    throw chainBroken(`manifest ${key} has no valid wrapped key`);
  if (m.seq !== expected.seq || key !== manifestKey(expected.tenant, expected.chain, m.seq))
    throw chainBroken(`manifest ${key} is out of sequence (expected ${expected.seq})`);
  if (m.previous !== expected.previous) throw chainBroken(`manifest ${key} does not link to the previous manifest`);
  return m;
}

/** Checks a segment's bytes against what its manifest recorded. */
export function checkSegment(m: Manifest, seg: Uint8Array | undefined): Uint8Array {
  if (!seg) throw chainBroken(`segment ${m.segment.key} is missing`);
  if (sha256(seg) !== m.segment.sha256 || seg.length !== m.segment.size) throw chainBroken(`segment ${m.segment.key} was altered`);
  return seg;
}

export function chainBroken(message: string): AppError {
  return new AppError('unprocessable', `Backup chain broken: ${message}.`);
}

/** A FileCryptoError (checked by name, as errors are here). */
export function cryptoErrorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FileCryptoError'
    ? String((e as { code?: unknown }).code)
    : undefined;
}
