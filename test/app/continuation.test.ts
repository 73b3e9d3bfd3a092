import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContinuationTokens } from '../../shared/app/continuation';
import { rejectionOf } from '../support/rejection';

const secretA = randomBytes(32);
const secretB = randomBytes(32);
const query = { type: 'doc', filters: [], sort: null };

describe('continuation tokens', () => {
  it('round-trips a store position; the token is opaque (the position cannot be read from it)', async () => {
    const a = ContinuationTokens.forTenant('acme', secretA);
    const position = Buffer.from(JSON.stringify({ id: 'r_SECRETPOSITIONxyz' })).toString('base64url');
    const token = await a.seal('records', query, position);
    expect(await a.open('records', query, token)).toBe(position);
    expect(token).toMatch(/^[A-Za-z0-9_.-]+$/);
    const readable = token
      .split('.')
      .map((p) => Buffer.from(p, 'base64url').toString('latin1'))
      .join('');
    expect(readable).not.toContain('SECRETPOSITION');
    expect(token).not.toContain(position);
    // A fresh IV per token: the same position never gives the same token twice.
    expect(await a.seal('records', query, position)).not.toBe(token);
  });

  it("refuses another tenant's token, another query's token, a modified token and garbage with a 400", async () => {
    const a = ContinuationTokens.forTenant('acme', secretA);
    const token = await a.seal('records', query, 'pos');
    const refused = async (t: ContinuationTokens, kind: Parameters<ContinuationTokens['open']>[0], q: unknown, tok: string) => {
      const e = await rejectionOf(t.open(kind, q, tok));
      expect(e).toMatchObject({ name: 'AppError', code: 'validation', status: 400 });
      expect((e as Error).message).toMatch(/continuation token is not valid here/);
    };
    // Tenant B (its own secret), and even a tenant with A's id but another secret.
    await refused(ContinuationTokens.forTenant('globex', secretB), 'records', query, token);
    await refused(ContinuationTokens.forTenant('acme', secretB), 'records', query, token);
    // Same secret bytes but another tenant id: the key derivation and the sealed tenant differ.
    await refused(ContinuationTokens.forTenant('globex', secretA), 'records', query, token);
    // Another query or another kind of list.
    await refused(a, 'records', { ...query, type: 'other' }, token);
    await refused(a, 'audit', query, token);
    // Single-character changes all along the token (skipping those that only flip the unused
    // low bits of a segment's last base64url character, which decode to the same bytes).
    const bytesOf = (t: string) =>
      t
        .split('.')
        .map((s) => Buffer.from(s, 'base64url').toString('hex'))
        .join('.');
    let tried = 0;
    for (let i = 0; i < token.length; i += 3) {
      if (token[i] === '.') continue;
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      if (bytesOf(changed) === bytesOf(token)) continue;
      await refused(a, 'records', query, changed);
      tried++;
    }
    expect(tried).toBeGreaterThan(30);
    for (const junk of [
      '',
      'zzz',
      'a.b.c.d.e',
      '{"id":"x"}',
      Buffer.from('{"id":"r_x"}').toString('base64url'),
      'x'.repeat(20000),
      `${token}.`,
      `${token}%00`,
    ]) {
      await refused(a, 'records', query, junk);
    }
  });

  it('derives a key that is not the signing secret, and zeroes it on dispose', async () => {
    const secret = randomBytes(32);
    const t = ContinuationTokens.forTenant('acme', secret);
    const key = (t as unknown as { key: Uint8Array }).key;
    expect(key.length).toBe(64);
    expect(Buffer.from(key).includes(secret)).toBe(false);
    expect(Buffer.from(key.subarray(0, 32)).equals(secret)).toBe(false);
    const token = await t.seal('history', { type: 'doc', id: 'r_1' }, 'p');
    t.dispose();
    expect(key.every((b) => b === 0)).toBe(true);
    await expect(t.open('history', { type: 'doc', id: 'r_1' }, token)).rejects.toMatchObject({ code: 'validation' });
    // A token sealed with the all-zero key is not accepted by a disposed sealer either.
    const zero = await ContinuationTokens.prototype.seal.call(
      Object.assign(Object.create(ContinuationTokens.prototype), { tenantId: 'acme', key: new Uint8Array(64), disposed: false }),
      'history',
      { type: 'doc', id: 'r_1' },
      'p',
    );
    await expect(t.open('history', { type: 'doc', id: 'r_1' }, zero)).rejects.toMatchObject({ code: 'validation' });
    await expect(t.seal('history', { type: 'doc', id: 'r_1' }, 'p')).rejects.toThrow(/dropped/);
  });
});
