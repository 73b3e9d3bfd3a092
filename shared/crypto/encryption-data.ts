/**
 * The `encryptiondata` blob metadata of client-side encryption v2, byte for byte as the Python
 * SDK writes it, and its strict parser.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { WrappedKey } from '../ports/key-provider';
import {
  ENCRYPTION_ALGORITHM,
  ENCRYPTION_DATA_KEY,
  ENCRYPTION_MODE,
  ENCRYPTION_PROTOCOL,
  FileCryptoError,
  NONCE_LENGTH,
  REGION_SIZE,
} from './format';

export interface EncryptionDataOptions {
  /** `KeyWrappingMetadata.EncryptionLibrary`; defaults to "tenant-ledger <package version>". */
  encryptionLibrary?: string;
}

/** The validated content of an `encryptiondata` value. */
export interface EncryptionData {
  /** `WrappedContentKey.KeyId`: the versioned id of the key-encryption key. */
  keyId: string;
  /** `WrappedContentKey.Algorithm`: the key wrap algorithm (e.g. "A256KW", "RSA-OAEP-256"). */
  algorithm: string;
  /** `WrappedContentKey.EncryptedKey`: the wrapped v2 payload, base64. */
  encryptedKey: string;
  /** `EncryptionAgent.Protocol`. */
  protocol: typeof ENCRYPTION_PROTOCOL;
  /** `EncryptionAgent.EncryptionAlgorithm`. */
  encryptionAlgorithm: typeof ENCRYPTION_ALGORITHM;
  /** `EncryptedRegionInfo.DataLength` (always 4 MiB in protocol 2.0). */
  regionSize: number;
  nonceLength: typeof NONCE_LENGTH;
  /** `KeyWrappingMetadata.EncryptionLibrary`, when present (e.g. "Python 12.15.0"). */
  encryptionLibrary?: string;
  /** `EncryptionMode`, when present ("FullBlob"). */
  encryptionMode?: string;
}

let defaultLibrary: string | undefined;
/** "tenant-ledger <version>" from the nearest package.json named tenant-ledger (works from sources and from dist/). */
function libraryName(): string {
  if (defaultLibrary !== undefined) return defaultLibrary;
  let version: string | undefined;
  let dir = __dirname;
  for (let i = 0; i < 5 && version === undefined; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tenant-ledger' && typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // not here: go up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  defaultLibrary = version ? `tenant-ledger ${version}` : 'tenant-ledger';
  return defaultLibrary;
}

/**
 * Python's `json.dumps` (default separators ", " and ": ", ensure_ascii) for a string:
 * everything outside printable ASCII is escaped as lower-case \uXXXX, so the value is also a
 * valid HTTP header value.
 */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The `encryptiondata` metadata value, byte for byte as the Python SDK writes protocol 2.0
 * (same field order — the Java reader depends on it — and the same `json.dumps` spacing):
 * `{"WrappedContentKey": {"KeyId", "EncryptedKey", "Algorithm"}, "EncryptionAgent": {"Protocol",
 * "EncryptionAlgorithm"}, "EncryptedRegionInfo": {"DataLength", "NonceLength"},
 * "KeyWrappingMetadata": {"EncryptionLibrary"}, "EncryptionMode": "FullBlob"}`.
 * Protocol 2.0 has a fixed region size of 4 MiB, so none can be chosen here.
 */
export function encryptionDataJson(wrapped: WrappedKey, options: EncryptionDataOptions = {}): string {
  if (
    !wrapped ||
    typeof wrapped.keyId !== 'string' ||
    wrapped.keyId === '' ||
    typeof wrapped.algorithm !== 'string' ||
    wrapped.algorithm === '' ||
    typeof wrapped.wrapped !== 'string' ||
    !isBase64(wrapped.wrapped)
  ) {
    throw new FileCryptoError('invalid-argument', 'The wrapped key needs a key id, an algorithm and base64 key bytes.');
  }
  const library = options.encryptionLibrary ?? libraryName();
  return (
    `{"WrappedContentKey": {"KeyId": ${pyString(wrapped.keyId)}, "EncryptedKey": ${pyString(wrapped.wrapped)}, "Algorithm": ${pyString(wrapped.algorithm)}}, ` +
    `"EncryptionAgent": {"Protocol": "${ENCRYPTION_PROTOCOL}", "EncryptionAlgorithm": "${ENCRYPTION_ALGORITHM}"}, ` +
    `"EncryptedRegionInfo": {"DataLength": ${REGION_SIZE}, "NonceLength": ${NONCE_LENGTH}}, ` +
    `"KeyWrappingMetadata": {"EncryptionLibrary": ${pyString(library)}}, ` +
    `"EncryptionMode": "${ENCRYPTION_MODE}"}`
  );
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;
function isBase64(s: string): boolean {
  return BASE64.test(s);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const MAX_ENCRYPTION_DATA_LENGTH = 8192;

function bad(message: string): FileCryptoError {
  return new FileCryptoError('invalid-metadata', `Invalid encryptiondata: ${message}`);
}

/**
 * Parses and validates an `encryptiondata` value: only protocol "2.0" with AES_GCM_256,
 * 4 MiB regions and 12-byte nonces is accepted (v1 AES-CBC is insecure; "2.1" with other
 * region sizes is not read by every SDK). Field order is not checked when reading.
 */
export function parseEncryptionData(json: string): EncryptionData {
  if (typeof json !== 'string') throw bad('expected a JSON string.');
  // Azure caps all of a blob's metadata at 8 KiB; anything longer was not written by an SDK.
  if (json.length > MAX_ENCRYPTION_DATA_LENGTH) throw bad(`longer than ${MAX_ENCRYPTION_DATA_LENGTH} characters.`);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw bad('not JSON.');
  }
  if (!isObject(doc)) throw bad('expected a JSON object.');
  const agent = doc.EncryptionAgent;
  if (!isObject(agent)) throw bad('EncryptionAgent is missing.');
  if (agent.Protocol !== ENCRYPTION_PROTOCOL) {
    const p = typeof agent.Protocol === 'string' ? JSON.stringify(agent.Protocol.slice(0, 16)) : 'missing';
    throw bad(`protocol ${p} is not supported; only client-side encryption protocol "${ENCRYPTION_PROTOCOL}" is read.`);
  }
  if (agent.EncryptionAlgorithm !== ENCRYPTION_ALGORITHM)
    throw bad(`EncryptionAgent.EncryptionAlgorithm must be "${ENCRYPTION_ALGORITHM}".`);
  const region = doc.EncryptedRegionInfo;
  if (!isObject(region)) throw bad('EncryptedRegionInfo is missing.');
  if (region.DataLength !== REGION_SIZE)
    throw bad(`EncryptedRegionInfo.DataLength must be ${REGION_SIZE} for protocol ${ENCRYPTION_PROTOCOL}.`);
  if (region.NonceLength !== NONCE_LENGTH) throw bad(`EncryptedRegionInfo.NonceLength must be ${NONCE_LENGTH}.`);
  const key = doc.WrappedContentKey;
  if (!isObject(key)) throw bad('WrappedContentKey is missing.');
  if (typeof key.KeyId !== 'string' || key.KeyId === '' || key.KeyId.length > 1024)
    throw bad('WrappedContentKey.KeyId must be a key id of at most 1024 characters.');
  if (typeof key.Algorithm !== 'string' || key.Algorithm === '' || key.Algorithm.length > 64)
    throw bad('WrappedContentKey.Algorithm must be an algorithm name of at most 64 characters.');
  if (typeof key.EncryptedKey !== 'string' || key.EncryptedKey.length > 4096 || !isBase64(key.EncryptedKey))
    throw bad('WrappedContentKey.EncryptedKey must be base64 of at most 4096 characters.');
  const out: EncryptionData = {
    keyId: key.KeyId,
    algorithm: key.Algorithm,
    encryptedKey: key.EncryptedKey,
    protocol: ENCRYPTION_PROTOCOL,
    encryptionAlgorithm: ENCRYPTION_ALGORITHM,
    regionSize: REGION_SIZE,
    nonceLength: NONCE_LENGTH,
  };
  if (doc.KeyWrappingMetadata !== undefined) {
    if (!isObject(doc.KeyWrappingMetadata)) throw bad('KeyWrappingMetadata must be an object.');
    const lib = doc.KeyWrappingMetadata.EncryptionLibrary;
    if (typeof lib === 'string') out.encryptionLibrary = lib;
  }
  if (doc.EncryptionMode !== undefined) {
    if (doc.EncryptionMode !== ENCRYPTION_MODE) throw bad(`EncryptionMode must be "${ENCRYPTION_MODE}".`);
    out.encryptionMode = ENCRYPTION_MODE;
  }
  return out;
}

/** The WrappedKey (KeyProvider shape) recorded in encryption data. */
export function wrappedKeyOf(data: Pick<EncryptionData, 'keyId' | 'algorithm' | 'encryptedKey'>): WrappedKey {
  return { keyId: data.keyId, algorithm: data.algorithm, wrapped: data.encryptedKey };
}

/**
 * The raw `encryptiondata` value in blob metadata, whatever the key's case (metadata names
 * are case-insensitive in Azure Storage; SDKs and proxies may change the case); undefined when
 * the blob has none. Pass it to parseEncryptionData. Two keys differing only in case with
 * different values are rejected.
 */
export function findEncryptionData(metadata: Record<string, string> | undefined): string | undefined {
  if (!metadata) return undefined;
  let found: string | undefined;
  for (const [k, v] of Object.entries(metadata)) {
    if (k.toLowerCase() !== ENCRYPTION_DATA_KEY) continue;
    if (found !== undefined && found !== v) throw bad('the metadata holds two different encryptiondata values.');
    found = v;
  }
  return found;
}
