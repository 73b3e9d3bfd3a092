import { createHash, hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { validation } from '../domain/errors';
import type { ContinuationKind, ContinuationSealer } from '../ports/tenant-stores';

/**
 * Continuation tokens as clients see them: opaque and tamper-evident, bound to one tenant and
 * one query.
 *
 * A store's own position (an id, an offset, an audit row key, the Cosmos SDK's token) is
 * sealed as a JWE (`dir`, `A256CBC-HS512`: AES-256-CBC encrypt-then-HMAC-SHA-512, a fresh
 * random IV per token) with a 64-byte key derived by HKDF-SHA-256 from the tenant's own
 * token-signing secret under a label of its own — so the key is never the signing key's bytes,
 * and every tenant has a different one. The plaintext also names the tenant and a hash of the
 * query the token continues (kind, type, filters, sort, asOf, record id…).
 *
 * So a client can neither read a position (no stream ids or offsets leak), nor change it (any
 * modified byte fails the HMAC), nor replay a token of tenant A at tenant B (another key) or on
 * another query (another hash): each is a 400 with a clear detail, before the store sees it.
 */
export type { ContinuationKind };

/**
 * Longest token accepted. Embedded positions seal to about 250 characters; a Cosmos DB SDK
 * token (cross-partition queries) can be a few kilobytes and grows by about 1.8× when sealed.
 */
const MAX_TOKEN_LENGTH = 16_384;
const HKDF_LABEL = 'tenant-ledger continuation-token v1';
const ALG = 'dir';
const ENC = 'A256CBC-HS512';

export class ContinuationTokens implements ContinuationSealer {
  private disposed = false;

  private constructor(
    private readonly tenantId: string,
    private readonly key: Uint8Array,
  ) {}

  /** Derives the tenant's continuation key from its token-signing secret (HKDF-SHA-256, own label). */
  static forTenant(tenantId: string, tenantSecret: Uint8Array): ContinuationTokens {
    const key = new Uint8Array(hkdfSync('sha256', tenantSecret, Buffer.from(`tenant:${tenantId}`, 'utf8'), HKDF_LABEL, 64));
    return new ContinuationTokens(tenantId, key);
  }

  /** Seals a store position for the query described by (kind, query). */
  async seal(kind: ContinuationKind, query: unknown, position: string): Promise<string> {
    if (this.disposed) throw new Error('The tenant context was dropped while the request ran; retry.');
    const plaintext = Buffer.from(JSON.stringify({ t: this.tenantId, q: queryHash(kind, query), p: position }), 'utf8');
    return new CompactEncrypt(plaintext).setProtectedHeader({ alg: ALG, enc: ENC }).encrypt(this.key);
  }

  /** The store position inside a token; 400 when it was not sealed by this tenant for this query. */
  async open(kind: ContinuationKind, query: unknown, token: string): Promise<string> {
    const refuse = () =>
      validation(
        'The continuation token is not valid here: it was changed, or it belongs to another query or tenant. Start again without it.',
        [{ path: 'continuation', message: 'is not a continuation token of this query' }],
      );
    // A disposed sealer's key is all zeros, which anyone could use: it accepts nothing.
    if (this.disposed || typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_.-]+$/.test(token)) throw refuse();
    let doc: unknown;
    try {
      const { plaintext } = await compactDecrypt(token, this.key, { keyManagementAlgorithms: [ALG], contentEncryptionAlgorithms: [ENC] });
      doc = JSON.parse(Buffer.from(plaintext).toString('utf8'));
    } catch {
      throw refuse();
    }
    const { t, q, p } = (typeof doc === 'object' && doc !== null ? doc : {}) as { t?: unknown; q?: unknown; p?: unknown };
    if (t !== this.tenantId || q !== queryHash(kind, query) || typeof p !== 'string') throw refuse();
    return p;
  }

  /** Zeroes the key (when the tenant's context is dropped). */
  dispose(): void {
    this.disposed = true;
    this.key.fill(0);
  }
}

function queryHash(kind: ContinuationKind, query: unknown): string {
  return createHash('sha256')
    .update(`${kind}\n${JSON.stringify(query ?? null)}`)
    .digest('base64url')
    .slice(0, 22);
}
