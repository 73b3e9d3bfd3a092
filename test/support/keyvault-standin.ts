/**
 * A tiny local stand-in for the Azure Key Vault keys REST API, just what the real
 * `@azure/keyvault-keys` KeyClient / CryptographyClient call for the KeyVaultKeyProvider:
 *
 *   POST   /keys/{name}/create                      create (or add a version to) an RSA key
 *   GET    /keys/{name}[/{version}]                 key bundle (public part only)
 *   POST   /keys/{name}/{version}/wrapkey|unwrapkey RSA-OAEP / RSA-OAEP-256 with node:crypto
 *   DELETE /keys/{name}                             soft delete (name stays taken until purge)
 *   GET    /deletedkeys/{name}, DELETE /deletedkeys/{name} (purge)
 *
 * Auth is the Key Vault challenge: a request without `Authorization` gets 401 with
 * `WWW-Authenticate: Bearer authorization="…/tenant", resource="https://vault.azure.net"`;
 * afterwards the bearer token issued by the stub credential is required.
 *
 * Every exchange is recorded, so tests can check that no private key component (d, p, q,
 * dp, dq, qi) ever left the stand-in.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants, generateKeyPair, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { KeyClientOptions } from '@azure/keyvault-keys';

export interface RecordedExchange {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Whether a valid bearer token came with the request. */
  authorized: boolean;
  status: number;
  requestBody: string;
  responseBody: string;
}

export interface KeyVaultStandIn {
  vaultUrl: string;
  credential: TokenCredential;
  clientOptions: KeyClientOptions;
  /** Every request answered so far, in order. */
  readonly exchanges: ReadonlyArray<RecordedExchange>;
  /** Scopes the SDK asked the stub credential for. */
  readonly tokenScopes: ReadonlyArray<string>;
  /**
   * True if any response body carried a private RSA component of any key this stand-in
   * holds (as a JSON property d/p/q/dp/dq/qi or as its base64url value anywhere).
   */
  privateKeyMaterialLeaked(): boolean;
  /** Names of live (not deleted) keys and their version counts. */
  keys(): Record<string, number>;
  /** Names of soft-deleted keys (not purged). */
  deletedKeys(): string[];
  /** Whether the stand-in still holds any version of the named key, live or soft-deleted. */
  holds(name: string): boolean;
  close(): Promise<void>;
}

interface KeyVersion {
  version: string;
  kid: string;
  keyOps: string[];
  kty: string;
  publicJwk: { n: string; e: string };
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64url of d, p, q, dp, dq, qi: only used to check that they never leak. */
  privateParts: string[];
  created: number;
}

interface StoredKey {
  versions: KeyVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN = `standin-${randomBytes(8).toString('hex')}`;
const NAME = /^[0-9A-Za-z-]{1,127}$/;
const PRIVATE_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

function generateRsa(bits: number): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    );
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function fromBase64Url(s: unknown, field: string): Buffer {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(s))
    throw new HttpError(400, 'BadParameter', `Property ${field} is not base64url.`);
  return Buffer.from(s, 'base64url');
}

export interface KeyVaultStandInOptions {
  /**
   * Purge protection, as infra/ sets it on the real vault: purging a deleted key is refused
   * (403) and the key stays soft-deleted until its scheduled purge date (90 days).
   */
  purgeProtection?: boolean;
}

export async function startKeyVaultStandIn(standInOptions: KeyVaultStandInOptions = {}): Promise<KeyVaultStandIn> {
  const store = new Map<string, StoredKey>();
  const exchanges: RecordedExchange[] = [];
  const tokenScopes: string[] = [];
  /** Private components of every key ever created (kept after purge, for the leak check). */
  const privateParts: string[] = [];
  let vaultUrl = '';

  const bundleOf = (v: KeyVersion) => ({
    key: { kid: v.kid, kty: v.kty, key_ops: v.keyOps, n: v.publicJwk.n, e: v.publicJwk.e },
    attributes: {
      enabled: true,
      created: v.created,
      updated: v.created,
      recoveryLevel: standInOptions.purgeProtection ? 'Recoverable' : 'Recoverable+Purgeable',
      recoverableDays: 90,
      exportable: false,
    },
  });
  const deletedBundleOf = (name: string, k: StoredKey) => {
    const latest = k.versions[k.versions.length - 1]!;
    return {
      ...bundleOf(latest),
      recoveryId: `${vaultUrl}/deletedkeys/${name}`,
      deletedDate: k.deleted?.deletedDate,
      scheduledPurgeDate: k.deleted?.scheduledPurgeDate,
    };
  };
  const liveKey = (name: string): StoredKey => {
    const k = store.get(name);
    if (!k || k.deleted) throw new HttpError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault.`);
    return k;
  };
  const liveVersion = (name: string, version: string | undefined): KeyVersion => {
    const k = liveKey(name);
    const v = version ? k.versions.find((x) => x.version === version) : k.versions[k.versions.length - 1];
    if (!v) throw new HttpError(404, 'KeyNotFound', `A key with (name/id) ${name}/${version ?? ''} was not found in this key vault.`);
    return v;
  };

  async function route(method: string, segments: string[], body: string): Promise<{ status: number; json?: unknown }> {
    const [collection, name, third, fourth, ...rest] = segments;
    if (rest.length > 0 || !name || !NAME.test(name)) throw new HttpError(404, 'NotFound', 'No such resource.');
    const json = (): Record<string, unknown> => {
      try {
        const parsed: unknown = JSON.parse(body || '{}');
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
        return parsed as Record<string, unknown>;
      } catch {
        throw new HttpError(400, 'BadParameter', 'The request body is not valid JSON.');
      }
    };

    if (collection === 'keys') {
      if (method === 'POST' && third === 'create' && fourth === undefined) {
        const p = json();
        const kty = typeof p.kty === 'string' ? p.kty : '';
        if (kty !== 'RSA' && kty !== 'RSA-HSM') throw new HttpError(400, 'BadParameter', 'This stand-in only creates RSA keys.');
        const bits = typeof p.key_size === 'number' ? p.key_size : 2048;
        if (![2048, 3072, 4096].includes(bits)) throw new HttpError(400, 'BadParameter', 'Invalid key size.');
        const existing = store.get(name);
        if (existing?.deleted) {
          throw new HttpError(
            409,
            'Conflict',
            `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`,
          );
        }
        const keyOps = Array.isArray(p.key_ops)
          ? p.key_ops.filter((x): x is string => typeof x === 'string')
          : ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
        const { publicKey, privateKey } = await generateRsa(bits);
        const pub = publicKey.export({ format: 'jwk' });
        const priv = privateKey.export({ format: 'jwk' });
        const version = randomBytes(16).toString('hex');
        const v: KeyVersion = {
          version,
          kid: `${vaultUrl}/keys/${name}/${version}`,
          keyOps,
          kty,
          publicJwk: { n: String(pub.n), e: String(pub.e) },
          privateKey,
          publicKey,
          privateParts: PRIVATE_FIELDS.map((f) => {
            const part = priv[f];
            if (typeof part !== 'string' || part.length < 16) throw new Error(`stand-in: RSA JWK export lacks ${f}`);
            return part;
          }),
          created: nowSeconds(),
        };
        privateParts.push(...v.privateParts);
        // Like the real service: creating an existing name adds a new version.
        const k = store.get(name) ?? { versions: [] };
        k.versions.push(v);
        store.set(name, k);
        return { status: 200, json: bundleOf(v) };
      }
      if (method === 'GET' && third === 'versions' && fourth === undefined) {
        // Every version's properties (one page), as listPropertiesOfKeyVersions reads them.
        const k = liveKey(name);
        return {
          status: 200,
          json: { value: k.versions.map((v) => ({ kid: v.kid, attributes: bundleOf(v).attributes })), nextLink: null },
        };
      }
      if (method === 'GET' && third !== undefined && fourth === undefined) return { status: 200, json: bundleOf(liveVersion(name, third)) };
      if (method === 'GET' && third === undefined) return { status: 200, json: bundleOf(liveVersion(name, undefined)) };
      if (method === 'POST' && third !== undefined && (fourth === 'wrapkey' || fourth === 'unwrapkey')) {
        const v = liveVersion(name, third);
        const op = fourth === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
        if (!v.keyOps.includes(op)) throw new HttpError(403, 'Forbidden', `Operation ${op} is not permitted on this key.`);
        const p = json();
        const alg = p.alg;
        if (alg !== 'RSA-OAEP-256' && alg !== 'RSA-OAEP') throw new HttpError(400, 'BadParameter', 'Invalid algorithm.');
        const value = fromBase64Url(p.value, 'value');
        const params = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSA-OAEP-256' ? 'sha256' : 'sha1' };
        let out: Buffer;
        try {
          out =
            op === 'wrapKey'
              ? publicEncrypt({ key: v.publicKey, ...params }, value)
              : privateDecrypt({ key: v.privateKey, ...params }, value);
        } catch {
          throw new HttpError(400, 'BadParameter', 'Operation failed: the value could not be processed with this key.');
        }
        return { status: 200, json: { kid: v.kid, value: out.toString('base64url') } };
      }
      if (method === 'DELETE' && third === undefined) {
        const k = liveKey(name);
        const t = nowSeconds();
        k.deleted = { deletedDate: t, scheduledPurgeDate: t + 90 * 86400 };
        return { status: 200, json: deletedBundleOf(name, k) };
      }
    }
    if (collection === 'deletedkeys' && third === undefined) {
      const k = store.get(name);
      if (!k?.deleted) throw new HttpError(404, 'KeyNotFound', `Deleted Key not found: ${name}`);
      if (method === 'GET') return { status: 200, json: deletedBundleOf(name, k) };
      if (method === 'DELETE') {
        if (standInOptions.purgeProtection)
          throw new HttpError(
            403,
            'Forbidden',
            'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.',
          );
        // Purged: the private keys are gone (only their leak-check fingerprints stay).
        store.delete(name);
        return { status: 204 };
      }
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported here.`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const auth = req.headers.authorization;
    const authorized = auth === `Bearer ${TOKEN}`;
    let status: number;
    let responseBody = '';
    const headers: Record<string, string> = {
      'x-ms-keyvault-service-version': 'standin',
      'x-ms-request-id': randomBytes(8).toString('hex'),
    };
    if (!authorized) {
      status = 401;
      headers['WWW-Authenticate'] = `Bearer authorization="${vaultUrl}/tenant", resource="https://vault.azure.net"`;
      responseBody = JSON.stringify({
        error: {
          code: 'Unauthorized',
          message: auth ? 'The bearer token is invalid.' : 'AKV10000: Request is missing a Bearer or PoP token.',
        },
      });
    } else {
      try {
        if (!url.searchParams.get('api-version')) throw new HttpError(400, 'BadParameter', 'The api-version query parameter is required.');
        const segments = url.pathname
          .split('/')
          .filter((s) => s !== '')
          .map(decodeURIComponent);
        const r = await route(method, segments, body);
        status = r.status;
        if (r.json !== undefined) responseBody = JSON.stringify(r.json);
      } catch (e) {
        const he = e instanceof HttpError ? e : new HttpError(500, 'InternalError', 'The stand-in failed.');
        status = he.status;
        responseBody = JSON.stringify({ error: { code: he.code, message: he.message } });
      }
    }
    exchanges.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorized,
      status,
      requestBody: body,
      responseBody,
    });
    if (responseBody) headers['Content-Type'] = 'application/json; charset=utf-8';
    res.writeHead(status, headers);
    res.end(responseBody);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  vaultUrl = `http://127.0.0.1:${port}`;

  const credential: TokenCredential = {
    getToken: async (scopes) => {
      tokenScopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
      return { token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
    },
  };

  return {
    vaultUrl,
    credential,
    clientOptions: {
      allowInsecureConnection: true,
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
    },
    exchanges,
    tokenScopes,
    privateKeyMaterialLeaked(): boolean {
      return exchanges.some((x) => {
        if (privateParts.some((s) => s.length > 0 && x.responseBody.includes(s))) return true;
        if (!x.responseBody) return false;
        let found = false;
        JSON.parse(x.responseBody, (key: string, value: unknown) => {
          if ((PRIVATE_FIELDS as readonly string[]).includes(key)) found = true;
          return value;
        });
        return found;
      });
    },
    keys(): Record<string, number> {
      return Object.fromEntries([...store.entries()].filter(([, k]) => !k.deleted).map(([n, k]) => [n, k.versions.length]));
    },
    deletedKeys(): string[] {
      return [...store.entries()].filter(([, k]) => k.deleted).map(([n]) => n);
    },
    holds(name: string): boolean {
      return store.has(name);
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
