import { randomBytes } from 'node:crypto';
import type { KeyProvider, WrappedKey } from '../../ports/key-provider';

/**
 * A new tenant's own key-encryption key (named `tenant-<id>-<random>`) and its token-signing
 * secret, random and returned only wrapped by that key (the plain secret is zeroed here). If
 * wrapping fails the key is removed again.
 */
export async function createTenantKey(keys: KeyProvider, id: string): Promise<{ keyName: string; signingKey: WrappedKey }> {
  const keyName = `tenant-${id}-${randomBytes(4).toString('hex')}`;
  await keys.createKey(keyName);
  const secret = randomBytes(32);
  try {
    return { keyName, signingKey: await keys.wrapKey(keyName, secret) };
  } catch (e) {
    await keys.deleteKey(keyName).catch(() => undefined);
    throw e;
  } finally {
    secret.fill(0);
  }
}
