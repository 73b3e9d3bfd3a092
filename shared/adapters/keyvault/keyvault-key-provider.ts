/**
 * Azure KeyProvider: one RSA-3072 key per tenant in Key Vault (software- or HSM-protected,
 * see `keyType`), data keys wrapped with RSA-OAEP-256 by the vault itself (remote wrap/unwrap). The private key never leaves
 * the vault; this adapter only ever sees key ids, public key data and wrapped bytes.
 *
 * Errors: 404 → AppError not_found, 409 → AppError conflict, a wrapped key the vault
 * rejects (400) → Error named 'KeyUnwrapError'; anything else → Error named
 * 'KeyVaultError' with statusCode/code. The SDK's RestError is never rethrown as is: it
 * carries the request (whose body, for wrapKey, is the plain data key). An aborted call
 * (`abortSignal`, passed to every SDK call and checked before the first) → Error named 'AbortError'.
 */
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import type { CryptographyClientOptions, KeyClientOptions, KeyVaultKey } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/identity';
import { conflict, isAppError, notFound, validation } from '../../domain/errors';
import { foreignKeyMessage, type KeyDestruction, type KeyProvider, type WrappedKey } from '../../ports/key-provider';
import type { OperationOptions } from '../../ports/options';
import { abortError, isAbortError, throwIfAborted } from '../abort';
import { httpStatusOf } from '../sdk-errors';

export interface KeyVaultKeyProviderOptions {
  /** e.g. https://my-vault.vault.azure.net */
  vaultUrl: string;
  credential: TokenCredential;
  /** Passed to KeyClient and CryptographyClient (tests: allowInsecureConnection, disableChallengeResourceVerification). */
  clientOptions?: KeyClientOptions;
  /**
   * 'RSA' (software-protected, default) or 'RSA-HSM' (generated and kept in an HSM; needs a
   * Premium vault — a Standard vault refuses the create, which surfaces as a KeyVaultError).
   * Applies to new keys and new versions; existing versions keep their type.
   */
  keyType?: 'RSA' | 'RSA-HSM';
}

export const KEYVAULT_WRAP_ALGORITHM = 'RSA-OAEP-256';
const RSA_KEY_SIZE = 3072;
/** Same rule as the local provider, and within Key Vault's own (1-127 of [0-9a-zA-Z-]). */
const KEY_NAME = /^[a-z0-9][a-z0-9-]{1,126}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RSA-OAEP-256 with a 3072-bit key takes at most 384 - 2*32 - 2 bytes. */
const MAX_WRAP_INPUT = 318;
const MAX_CACHED_CLIENTS = 1000;

function keyUnwrapError(
  message = 'The wrapped key could not be unwrapped: it is corrupt, was tampered with, or belongs to another key.',
): Error {
  const e = new Error(message);
  e.name = 'KeyUnwrapError';
  return e;
}

interface ServiceErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** A clean error without the SDK's request/response (which may hold key bytes in its body). */
function sanitized(e: unknown, action: string): Error {
  if (isAppError(e)) return e;
  if (isAbortError(e)) return abortError();
  const src = (typeof e === 'object' && e !== null ? e : {}) as ServiceErrorLike;
  const err = new Error(
    `Key Vault ${action} failed${src.statusCode ? ` (HTTP ${src.statusCode}${src.code ? `, ${src.code}` : ''})` : ''}: ${String(src.message ?? e)}`,
  ) as Error & {
    statusCode?: number;
    code?: string;
  };
  err.name = 'KeyVaultError';
  if (src.statusCode !== undefined) err.statusCode = src.statusCode;
  if (typeof src.code === 'string') err.code = src.code;
  return err;
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !KEY_NAME.test(name)) {
    throw validation('Invalid key name: use 2-127 characters a-z, 0-9 and "-", starting with a letter or digit.', [
      { path: '', message: 'must match ^[a-z0-9][a-z0-9-]{1,126}$' },
    ]);
  }
}

export class KeyVaultKeyProvider implements KeyProvider {
  private readonly vaultOrigin: string;
  private readonly credential: TokenCredential;
  private readonly clientOptions: KeyClientOptions;
  private readonly keys: KeyClient;
  private readonly hsm: boolean;
  /** CryptographyClient per versioned key id (each has its own pipeline and auth state). */
  private readonly crypto = new Map<string, CryptographyClient>();

  constructor(options: KeyVaultKeyProviderOptions) {
    const url = new URL(options.vaultUrl);
    this.vaultOrigin = url.origin;
    this.credential = options.credential;
    this.clientOptions = { ...(options.clientOptions ?? {}) };
    // The SDK writes into the options object it is given (userAgentOptions): hand out copies.
    this.keys = new KeyClient(this.vaultOrigin, this.credential, { ...this.clientOptions });
    this.hsm = options.keyType === 'RSA-HSM';
  }

  /** A new key, or a new version of an existing one (Key Vault's create does both). */
  private newKeyVersion(name: string, abortSignal: AbortSignal | undefined): Promise<KeyVaultKey> {
    return this.keys.createRsaKey(name, { keySize: RSA_KEY_SIZE, keyOps: ['wrapKey', 'unwrapKey'], hsm: this.hsm, abortSignal });
  }

  async createKey(name: string, options: OperationOptions = {}): Promise<{ keyId: string }> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    // Key Vault's create adds a new version to an existing key instead of failing.
    try {
      await this.keys.getKey(name, { abortSignal });
      throw conflict(`A key named "${name}" already exists.`);
    } catch (e) {
      if (isAppError(e)) throw e;
      if (httpStatusOf(e) !== 404) throw sanitized(e, 'getKey');
    }
    let key: KeyVaultKey;
    try {
      throwIfAborted(abortSignal);
      key = await this.newKeyVersion(name, abortSignal);
    } catch (e) {
      // 409: the name is held by a soft-deleted key (until it is purged or recovered).
      if (httpStatusOf(e) === 409) throw conflict(`A key named "${name}" already exists or is deleted but still recoverable.`);
      throw sanitized(e, 'createKey');
    }
    if (!key.id) throw new Error('Key Vault returned a key without an id.');
    return { keyId: key.id };
  }

  /**
   * Adds a new version of the tenant key (a create on an existing name adds a version in Key
   * Vault). Older versions stay enabled, so everything they wrapped remains readable.
   */
  async rotateKey(name: string, options: OperationOptions = {}): Promise<{ keyId: string }> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    let key: KeyVaultKey;
    try {
      await this.keys.getKey(name, { abortSignal });
      throwIfAborted(abortSignal);
      key = await this.newKeyVersion(name, abortSignal);
    } catch (e) {
      if (httpStatusOf(e) === 404) throw notFound(`No key named "${name}".`);
      throw sanitized(e, 'rotateKey');
    }
    if (!key.id) throw new Error('Key Vault returned a key without an id.');
    return { keyId: key.id };
  }

  async wrapKey(name: string, key: Uint8Array, options: OperationOptions = {}): Promise<WrappedKey> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    if (!(key instanceof Uint8Array) || key.length === 0 || key.length > MAX_WRAP_INPUT) {
      throw validation(`RSA-OAEP-256 wraps keys of 1 to ${MAX_WRAP_INPUT} bytes.`);
    }
    let latest: KeyVaultKey;
    try {
      latest = await this.keys.getKey(name, { abortSignal });
    } catch (e) {
      if (httpStatusOf(e) === 404) throw notFound(`No key named "${name}".`);
      throw sanitized(e, 'getKey');
    }
    const keyId = latest.id;
    if (!keyId) throw new Error('Key Vault returned a key without an id.');
    let client = this.crypto.get(keyId);
    if (!client) {
      client = new CryptographyClient(latest, this.credential, this.cryptoOptions());
      this.remember(keyId, client);
    }
    try {
      const result = await client.wrapKey(KEYVAULT_WRAP_ALGORITHM, key, { abortSignal });
      return {
        keyId: result.keyID ?? keyId,
        algorithm: KEYVAULT_WRAP_ALGORITHM,
        wrapped: Buffer.from(result.result).toString('base64'),
      };
    } catch (e) {
      if (httpStatusOf(e) === 404) {
        this.crypto.delete(keyId);
        throw notFound(`No key named "${name}".`);
      }
      throw sanitized(e, 'wrapKey');
    }
  }

  async unwrapKey(name: string, wrapped: WrappedKey, options: OperationOptions = {}): Promise<Uint8Array> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    if (wrapped === null || typeof wrapped !== 'object') throw keyUnwrapError('The wrapped key is malformed.');
    const { keyId, algorithm, wrapped: data } = wrapped;
    if (algorithm !== KEYVAULT_WRAP_ALGORITHM)
      throw keyUnwrapError(`Unsupported wrap algorithm for Key Vault keys (expected ${KEYVAULT_WRAP_ALGORITHM}).`);
    // Only ever send our credential to our own vault: a key id is data read from storage.
    if (!this.isOwnVersionedKeyId(keyId)) throw keyUnwrapError('The wrapped key does not name a key version of this vault.');
    // Only versions of the named (tenant's own) key. Key Vault names are case-insensitive; ours
    // are lower case, so any other spelling is refused rather than resolved to some key.
    if (nameOfKeyId(keyId) !== name) throw keyUnwrapError(foreignKeyMessage);
    if (typeof data !== 'string' || data.length === 0 || !BASE64.test(data)) throw keyUnwrapError('The wrapped key is not valid base64.');
    const bytes = Buffer.from(data, 'base64');

    let client = this.crypto.get(keyId);
    if (!client) {
      client = new CryptographyClient(keyId, this.credential, this.cryptoOptions());
      this.remember(keyId, client);
    }
    try {
      const result = await client.unwrapKey(KEYVAULT_WRAP_ALGORITHM, bytes, { abortSignal });
      return new Uint8Array(result.result);
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404) {
        this.crypto.delete(keyId);
        throw notFound('The key version that wrapped this key does not exist (deleted?).');
      }
      if (status === 400) throw keyUnwrapError();
      throw sanitized(e, 'unwrapKey');
    }
  }

  async deleteKey(name: string, options: OperationOptions = {}): Promise<void> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    for (const id of [...this.crypto.keys()]) {
      if (nameOfKeyId(id) === name) this.crypto.delete(id);
    }
    try {
      // Starts the (soft) delete; no need to wait for it to finish for a rollback.
      await this.keys.beginDeleteKey(name, { abortSignal });
    } catch (e) {
      if (httpStatusOf(e) === 404) return;
      throw sanitized(e, 'deleteKey');
    }
  }

  /**
   * Crypto-shredding: deletes the key (Key Vault deletes every version with it), waits until
   * the deletion has completed, then purges it. A vault with purge protection (infra/ turns it
   * on) refuses the purge (403): the key then stays soft-deleted — unusable for wrap and
   * unwrap, recoverable only by someone holding the recover permission — until Key Vault
   * purges it at its scheduled purge date, which is reported. Re-running after any step
   * continues from where the key is (live, soft-deleted, or gone).
   */
  async destroyKey(name: string, options: OperationOptions = {}): Promise<KeyDestruction> {
    const { abortSignal } = options;
    checkName(name);
    throwIfAborted(abortSignal);
    for (const id of [...this.crypto.keys()]) {
      if (nameOfKeyId(id) === name) this.crypto.delete(id);
    }
    let versions = 0;
    let live = true;
    try {
      for await (const _v of this.keys.listPropertiesOfKeyVersions(name, { abortSignal })) versions++;
    } catch (e) {
      if (httpStatusOf(e) !== 404) throw sanitized(e, 'listPropertiesOfKeyVersions');
      live = false;
    }
    // A listing of a live key that is empty: the key is gone (or soft-deleted) as well.
    if (versions === 0) live = false;
    if (live) {
      try {
        const poller = await this.keys.beginDeleteKey(name, { abortSignal, intervalInMs: 250 });
        await poller.pollUntilDone({ abortSignal });
      } catch (e) {
        if (httpStatusOf(e) !== 404) throw sanitized(e, 'deleteKey');
      }
    }
    let scheduledPurgeDate: Date | undefined;
    try {
      scheduledPurgeDate = (await this.keys.getDeletedKey(name, { abortSignal })).properties.scheduledPurgeDate;
    } catch (e) {
      if (httpStatusOf(e) === 404)
        return live
          ? { outcome: 'purged', versions, detail: `Deleted and purged by the vault (${versions} version(s)).` }
          : { outcome: 'absent', versions: 0, detail: 'No such key, live or deleted: already destroyed.' };
      throw sanitized(e, 'getDeletedKey');
    }
    try {
      await this.keys.purgeDeletedKey(name, { abortSignal });
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404) return { outcome: 'purged', versions, detail: `Deleted and purged (${versions} version(s)).` };
      if (status !== 403) throw sanitized(e, 'purgeDeletedKey');
      const until = scheduledPurgeDate?.toISOString();
      return {
        outcome: 'deleted',
        versions,
        ...(until ? { recoverableUntil: until } : {}),
        detail: `Deleted (${versions} version(s)); the vault refused the purge (purge protection): the key is unusable and Key Vault purges it by itself${until ? ` on ${until}` : ''}; until then someone with the recover permission could recover it.`,
      };
    }
    return { outcome: 'purged', versions, detail: `Deleted and purged (${versions} version(s)).` };
  }

  private cryptoOptions(): CryptographyClientOptions {
    return { ...this.clientOptions };
  }

  private remember(keyId: string, client: CryptographyClient): void {
    if (this.crypto.size >= MAX_CACHED_CLIENTS) {
      const oldest = this.crypto.keys().next();
      if (!oldest.done) this.crypto.delete(oldest.value);
    }
    this.crypto.set(keyId, client);
  }

  private isOwnVersionedKeyId(keyId: unknown): keyId is string {
    if (typeof keyId !== 'string') return false;
    let url: URL;
    try {
      url = new URL(keyId);
    } catch {
      return false;
    }
    if (url.origin !== this.vaultOrigin || url.search !== '' || url.hash !== '') return false;
    return /^\/keys\/[0-9A-Za-z-]{1,127}\/[0-9A-Za-z]{1,64}$/.test(url.pathname);
  }
}

function nameOfKeyId(keyId: string): string | undefined {
  try {
    return new URL(keyId).pathname.split('/')[2];
  } catch {
    return undefined;
  }
}
