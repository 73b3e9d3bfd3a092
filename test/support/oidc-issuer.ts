import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';

export interface IssuerSignOptions {
  /** Header `alg`. Default RS256. `none` yields an unsecured JWT; `HS256` without `key` uses the issuer's public key (SPKI PEM) as the HMAC secret. */
  alg?: string;
  /** Header `kid`. Default the issuer's key id; `null` leaves it out. */
  kid?: string | null;
  /** `exp` in seconds since the epoch. Default now + 5 minutes. */
  exp?: number;
  /** `iss`. Default the issuer. */
  iss?: string;
  /** `aud`. Default the `audience` given to startLocalIssuer, if any. */
  aud?: string | string[];
  /** Sign with this key instead of the issuer's. */
  key?: jose.KeyLike | Uint8Array;
}

export interface LocalIssuer {
  /** e.g. http://127.0.0.1:40123 (no trailing slash), as in the tokens' `iss`. */
  issuer: string;
  jwksUri: string;
  /** Id of the published RS256 key. */
  kid: string;
  /** How often each document was fetched. */
  requests: { discovery: number; jwks: number };
  sign(claims: jose.JWTPayload, opts?: IssuerSignOptions): Promise<string>;
  /** While on, every request is answered 503 (the server stays up). */
  setFailing(on: boolean): void;
  close(): Promise<void>;
}

/** A local OpenID Connect issuer on 127.0.0.1 with one RS256 key, serving discovery and its JWKS. */
export async function startLocalIssuer(options: { audience?: string } = {}): Promise<LocalIssuer> {
  const { publicKey, privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicJwk);
  const publicPem = await jose.exportSPKI(publicKey);
  const jwks = { keys: [{ ...publicJwk, kid, alg: 'RS256', use: 'sig' }] };
  const requests = { discovery: 0, jwks: 0 };
  let failing = false;

  let issuer = '';
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (failing) return send(503, { error: 'temporarily unavailable' });
    if (req.method !== 'GET') return send(405, { error: 'method not allowed' });
    switch (req.url) {
      case '/.well-known/openid-configuration':
        requests.discovery++;
        return send(200, {
          issuer,
          jwks_uri: `${issuer}/keys`,
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
        });
      case '/keys':
        requests.jwks++;
        return send(200, jwks);
      default:
        return send(404, { error: 'not found' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  issuer = `http://127.0.0.1:${port}`;

  const sign = async (claims: jose.JWTPayload, opts: IssuerSignOptions = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const aud = opts.aud ?? options.audience;
    const payload: jose.JWTPayload = {
      iat: now,
      nbf: now,
      exp: opts.exp ?? now + 300,
      iss: opts.iss ?? issuer,
      ...(aud === undefined ? {} : { aud }),
      ...claims,
    };
    // Explicit overrides win over claims.
    if (opts.exp !== undefined) payload.exp = opts.exp;
    if (opts.iss !== undefined) payload.iss = opts.iss;
    if (opts.aud !== undefined) payload.aud = opts.aud;

    const alg = opts.alg ?? 'RS256';
    if (alg === 'none') return new jose.UnsecuredJWT(payload).encode();
    const headerKid = opts.kid === undefined ? kid : opts.kid;
    const header: jose.JWTHeaderParameters = { alg, typ: 'JWT', ...(headerKid === null ? {} : { kid: headerKid }) };
    const key = opts.key ?? (alg.startsWith('HS') ? new TextEncoder().encode(publicPem) : privateKey);
    return new jose.SignJWT(payload).setProtectedHeader(header).sign(key);
  };

  const close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });

  const setFailing = (on: boolean) => {
    failing = on;
  };

  return { issuer, jwksUri: `${issuer}/keys`, kid, requests, sign, setFailing, close };
}
