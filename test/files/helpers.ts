/**
 * Helpers shared by the tests in test/files/. Deliberately independent of
 * shared/crypto/, so the reference test can use them too.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { KeyDestruction, KeyProvider, WrappedKey } from '../../shared/ports/key-provider';

/** Yields `buf` in pieces of `size` bytes (subarrays, no copies). */
export async function* chunksOf(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

/** Yields `buf` in pieces of varying sizes (1, 7, 4096, 65537, … cycling), to shake out re-chunking bugs. */
export async function* oddChunks(buf: Uint8Array): AsyncGenerator<Uint8Array> {
  const sizes = [1, 7, 4096, 65537, 13, 300_001, 0];
  let i = 0;
  let k = 0;
  while (i < buf.length) {
    const n = sizes[k++ % sizes.length]!;
    yield buf.subarray(i, Math.min(buf.length, i + n));
    i += n;
  }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Collects what a stream yields until it ends or throws; returns both. */
export async function collectUntilError(it: AsyncIterable<Uint8Array>): Promise<{ yielded: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of it) parts.push(Buffer.from(c));
  } catch (e) {
    return { yielded: Buffer.concat(parts), error: e };
  }
  return { yielded: Buffer.concat(parts), error: undefined };
}

/** Deterministic pseudo-random bytes (fast, so multi-MiB fixtures cost nothing). */
export function patternBytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

export function aesKeyWrap(kek: Buffer, data: Uint8Array): Buffer {
  const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([c.update(data), c.final()]);
}

export function aesKeyUnwrap(kek: Buffer, data: Uint8Array): Buffer {
  const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([d.update(data), d.final()]);
}

/**
 * A KeyProvider over one KEK whose raw bytes the test knows (A256KW, RFC 3394), so the same
 * key can be handed to the Python SDK or to a reference implementation.
 */
export class RawKekProvider implements KeyProvider {
  constructor(
    readonly kek: Buffer,
    readonly keyId: string,
  ) {}
  async createKey(): Promise<{ keyId: string }> {
    return { keyId: this.keyId };
  }
  async wrapKey(_name: string, key: Uint8Array): Promise<WrappedKey> {
    return { keyId: this.keyId, algorithm: 'A256KW', wrapped: aesKeyWrap(this.kek, key).toString('base64') };
  }
  async unwrapKey(_name: string, wrapped: WrappedKey): Promise<Uint8Array> {
    if (wrapped.keyId !== this.keyId || wrapped.algorithm !== 'A256KW') {
      const e = new Error('Unknown key.');
      e.name = 'KeyUnwrapError';
      throw e;
    }
    try {
      return aesKeyUnwrap(this.kek, Buffer.from(wrapped.wrapped, 'base64'));
    } catch {
      const e = new Error('The wrapped key could not be unwrapped.');
      e.name = 'KeyUnwrapError';
      throw e;
    }
  }
  async rotateKey(): Promise<{ keyId: string }> {
    throw new Error('RawKekProvider has one fixed KEK: rotation is tested with the real providers.');
  }
  async deleteKey(): Promise<void> {}
  async destroyKey(): Promise<KeyDestruction> {
    throw new Error('RawKekProvider has one fixed KEK: destruction is tested with the real providers.');
  }
}

export { freePort } from '../support/net';
