import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { TokenService } from '../../../shared/app/tokens';

const now = Date.parse('2026-12-01T10:00:00Z');
const clock = { now: () => new Date(now) };
const iss = 'urn:tenant-ledger:tenant:acme';

/** Signs with the tenant's real secret, so only the claims decide. */
function forge(secret: Uint8Array, claims: { exp?: number; iat?: number }) {
  let jwt = new SignJWT({ tid: 'acme', ep: 0 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(iss)
    .setAudience(iss)
    .setSubject('u_aaaaaaaaaaaaaaaaaaaaaa');
  if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
  return jwt.sign(secret);
}

describe('TokenService', () => {
  const secret = randomBytes(32);
  const tokens = new TokenService(clock, 3600);
  const s = Math.floor(now / 1000);

  it('accepts what it issues', async () => {
    const t = await tokens.issue(secret, { tenantId: 'acme', userId: 'u_aaaaaaaaaaaaaaaaaaaaaa', epoch: 0 });
    await expect(tokens.verify(secret, 'acme', t)).resolves.toMatchObject({ userId: 'u_aaaaaaaaaaaaaaaaaaaaaa' });
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s, exp: s + 3600 }))).resolves.toBeTruthy();
  });

  it('refuses a correctly signed token without exp', async () => {
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s }))).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('refuses a token whose exp lies further ahead than the configured TTL (plus a minute of skew)', async () => {
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s, exp: s + 10 * 365 * 86400 }))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s, exp: s + 3600 + 61 }))).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s, exp: s + 3600 + 59 }))).resolves.toBeTruthy();
  });

  it('refuses a token without iat, and an expired one', async () => {
    await expect(tokens.verify(secret, 'acme', await forge(secret, { exp: s + 60 }))).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(tokens.verify(secret, 'acme', await forge(secret, { iat: s - 7200, exp: s - 3600 }))).rejects.toMatchObject({
      code: 'unauthenticated',
      message: 'The token has expired.',
    });
  });
});

describe('TokenService: tokens verified before (kept in memory)', () => {
  const s = Math.floor(now / 1000);
  const claims = { tenantId: 'acme', userId: 'u_aaaaaaaaaaaaaaaaaaaaaa', epoch: 3 };

  it('a verified token still expires: the same text is refused once the clock passes its exp', async () => {
    let at = now;
    const tokens = new TokenService({ now: () => new Date(at) }, 3600);
    const secret = randomBytes(32);
    const t = await tokens.issue(secret, claims);
    await expect(tokens.verify(secret, 'acme', t)).resolves.toEqual(claims);
    await expect(tokens.verify(secret, 'acme', t)).resolves.toEqual(claims);
    at = now + 3600 * 1000;
    await expect(tokens.verify(secret, 'acme', t)).rejects.toMatchObject({ code: 'unauthenticated' });
    at = now + 3599 * 1000;
    await expect(tokens.verify(secret, 'acme', t)).resolves.toEqual(claims);
  });

  it('a verified token does not verify under another secret, at another tenant, or once its secret was zeroed', async () => {
    const tokens = new TokenService(clock, 3600);
    const secret = randomBytes(32);
    const t = await tokens.issue(secret, claims);
    await expect(tokens.verify(secret, 'acme', t)).resolves.toEqual(claims);
    await expect(tokens.verify(randomBytes(32), 'acme', t)).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(tokens.verify(secret, 'globex', t)).rejects.toMatchObject({ code: 'unauthenticated' });
    // A copy with the same bytes still verifies (the secret is compared, not the buffer).
    await expect(tokens.verify(Uint8Array.from(secret), 'acme', t)).resolves.toEqual(claims);
    // The tenant's stores retired: its key buffer is zeroed; a new buffer with the old bytes is
    // not what verifies, the zeroed one never matches a live key again.
    const kept = Uint8Array.from(secret);
    secret.fill(0);
    await expect(tokens.verify(randomBytes(32), 'acme', t)).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(tokens.verify(kept, 'acme', t)).resolves.toEqual(claims);
  });

  it('a token tampered with after it was verified is refused (the text is the key)', async () => {
    const tokens = new TokenService(clock, 3600);
    const secret = randomBytes(32);
    const t = await tokens.issue(secret, claims);
    await tokens.verify(secret, 'acme', t);
    const [h, p, sig] = t.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, ep: 0, exp: s + 3000 })).toString('base64url')}.${sig}`;
    await expect(tokens.verify(secret, 'acme', forged)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});
