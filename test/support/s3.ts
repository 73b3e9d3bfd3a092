import { createRequire } from 'node:module';
import Module from 'node:module';
import * as nodeCrypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3TestServer {
  /** http://127.0.0.1:PORT (path-style: use forcePathStyle: true). */
  endpoint: string;
  bucket: string;
  region: string;
  /** s3rver's built-in credentials. */
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the server and removes its temp folder. */
  close(): Promise<void>;
}

/** The part of s3rver 3.7's API used here (the package has no type declarations). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  vhostBuckets: boolean;
  resetOnClose: boolean;
}) => S3rverInstance;

/**
 * s3rver 3.7.1 encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3
 * (Node ≥ 17) only has in its legacy provider: without `--openssl-legacy-provider` every
 * truncated listing answers 500 (ERR_OSSL_EVP_UNSUPPORTED). The token is opaque to clients
 * and s3rver only reads its own tokens, so its controllers/bucket.js (and only that module)
 * gets a `crypto` whose 'des' is AES-128-CBC with the 8-byte key and IV zero-padded; the
 * token's format (8-byte IV ‖ ciphertext, base64) is unchanged.
 */
function loadS3rver(): S3rverConstructor {
  const req = createRequire(__filename);
  const bucketController = req.resolve('s3rver/lib/controllers/bucket.js');
  const pad16 = (b: nodeCrypto.BinaryLike) => Buffer.concat([Buffer.from(b as Uint8Array), Buffer.alloc(16)]).subarray(0, 16);
  const shimmedCrypto = {
    ...nodeCrypto,
    createCipheriv: (alg: string, key: nodeCrypto.BinaryLike, iv: nodeCrypto.BinaryLike) =>
      alg === 'des' ? nodeCrypto.createCipheriv('aes-128-cbc', pad16(key), pad16(iv)) : nodeCrypto.createCipheriv(alg, key, iv),
    createDecipheriv: (alg: string, key: nodeCrypto.BinaryLike, iv: nodeCrypto.BinaryLike) =>
      alg === 'des' ? nodeCrypto.createDecipheriv('aes-128-cbc', pad16(key), pad16(iv)) : nodeCrypto.createDecipheriv(alg, key, iv),
  };
  const proto = (Module as unknown as { prototype: { require: (this: { filename?: string }, id: string) => unknown } }).prototype;
  const original = proto.require;
  proto.require = function (this: { filename?: string }, id: string) {
    if ((id === 'crypto' || id === 'node:crypto') && this.filename === bucketController) return shimmedCrypto;
    return original.call(this, id);
  };
  try {
    return req('s3rver') as S3rverConstructor;
  } finally {
    proto.require = original;
  }
}

const S3rver = loadS3rver();

export const S3_REGION = 'eu-central-1';

/** A client for the test server (path-style, eu-central-1, s3rver's credentials). */
export function s3ClientFor(server: Pick<S3TestServer, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
}

/**
 * s3rver in this process on 127.0.0.1 and a port the OS picks (listen on 0, so no probe race),
 * storing in a fresh temp folder (removed on close), with one empty bucket created through
 * the real SDK.
 */
export async function startS3(bucket = 'backups'): Promise<S3TestServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, vhostBuckets: false, resetOnClose: false });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    throw e;
  }
  const result: S3TestServer = {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    region: S3_REGION,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    close: async () => {
      try {
        await server.close();
      } finally {
        await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      }
    },
  };
  const client = s3ClientFor(result);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (e) {
    await result.close();
    throw e;
  } finally {
    client.destroy();
  }
  return result;
}
