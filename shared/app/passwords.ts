import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * Password hashes with scrypt (node:crypto, RFC 7914). The format records its parameters,
 * `scrypt$<logN>$<r>$<p>$<salt b64>$<hash b64>`, so raising the cost later still verifies
 * old hashes.
 */
export class PasswordHasher {
  constructor(private readonly logN = 15) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const r = 8;
    const p = 1;
    const key = await scrypt(password, salt, 32, { N: 2 ** this.logN, r, p, maxmem: 256 * 2 ** this.logN * r });
    return `scrypt$${this.logN}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    const parts = encoded.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [, logN, r, p, salt, hash] = parts as [string, string, string, string, string, string];
    const expected = Buffer.from(hash, 'base64');
    const N = 2 ** Number(logN);
    const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
      N,
      r: Number(r),
      p: Number(p),
      maxmem: 256 * N * Number(r),
    });
    return key.length === expected.length && timingSafeEqual(key, expected);
  }

  /** Spends the same work as a real verification, for unknown emails (no timing oracle). */
  private dummy?: Promise<string>;
  async burn(password: string): Promise<void> {
    this.dummy ??= this.hash('not-a-real-password');
    await this.verify(password, await this.dummy);
  }
}
