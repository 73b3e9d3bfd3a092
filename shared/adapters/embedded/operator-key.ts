import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { unauthenticated } from '../../domain/errors';
import type { OperatorAuthenticator, OperatorPrincipal } from '../../ports/operator-auth';
import { createFileDurably } from '../durable-files';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';

/** Shortest operator key accepted (characters). A generated key is 43 characters. */
export const MIN_OPERATOR_KEY_LENGTH = 32;

/** File name of the generated operator key inside the data folder. */
export const OPERATOR_KEY_FILE = 'operator.key';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Why `key` cannot be an operator key, or undefined when it can. Keys travel in an HTTP
 * header, so only visible ASCII (no spaces, no control characters) is accepted.
 */
function operatorKeyProblem(key: string): string | undefined {
  if (key.length < MIN_OPERATOR_KEY_LENGTH) return `must be at least ${MIN_OPERATOR_KEY_LENGTH} characters long`;
  if (!/^[\x21-\x7e]+$/.test(key)) return 'may contain only visible ASCII characters (no spaces)';
  return undefined;
}

/**
 * The local operator credential: one shared key, presented as `Authorization: Bearer <key>`.
 * Comparison is on SHA-256 digests with `timingSafeEqual`, so neither the key's content nor
 * its length leaks through timing.
 */
export class StaticKeyOperatorAuthenticator implements OperatorAuthenticator {
  readonly #expectedDigest: Buffer;
  readonly #principal: OperatorPrincipal;

  constructor(key: string) {
    const problem = operatorKeyProblem(key);
    // Never echo the key itself.
    if (problem !== undefined) throw new Error(`The operator key ${problem}.`);
    this.#expectedDigest = sha256(key);
    this.#principal = { id: `operator-key:${this.#expectedDigest.toString('hex').slice(0, 12)}` };
  }

  async authenticate(authorization: string | null, options: OperationOptions = {}): Promise<OperatorPrincipal> {
    throwIfAborted(options.abortSignal);
    const presented = bearerCredential(authorization);
    if (presented === undefined) throw unauthenticated('An operator key is required (Authorization: Bearer <key>).');
    if (!timingSafeEqual(sha256(presented), this.#expectedDigest)) throw unauthenticated('The operator key is not valid.');
    return { ...this.#principal };
  }
}

/** The credential of a `Bearer` header (scheme case-insensitive), or undefined. */
function bearerCredential(authorization: string | null): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const match = /^\s*(\S+)[ \t]+(\S+)\s*$/.exec(authorization);
  if (match?.[1]?.toLowerCase() !== 'bearer') return undefined;
  return match[2];
}

export interface LoadedOperatorKey {
  key: string;
  /** True when this call generated the key file. */
  created: boolean;
  /** The key file, when the key came from (or was written to) disk. */
  path?: string;
}

/**
 * The operator key: `fromEnv` (OPERATOR_KEY) when given and non-empty, else
 * `<dataDir>/operator.key`, generating it (32 random bytes, base64url, mode 0600, folder 0700)
 * on first start. Surrounding whitespace (e.g. a trailing newline in the file) is ignored.
 */
export async function loadOrCreateOperatorKey(dataDir: string, fromEnv?: string): Promise<LoadedOperatorKey> {
  const envKey = fromEnv?.trim();
  if (envKey !== undefined && envKey !== '') {
    const problem = operatorKeyProblem(envKey);
    if (problem !== undefined) throw new Error(`OPERATOR_KEY ${problem}; unset it to have a key generated under the data folder.`);
    return { key: envKey, created: false };
  }

  const keyPath = path.join(dataDir, OPERATOR_KEY_FILE);
  const existing = await readKeyFile(keyPath);
  if (existing !== undefined) return { key: existing, created: false, path: keyPath };

  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('base64url');
  const stored = await createKeyFile(keyPath, key);
  if (stored !== key) return { key: stored, created: false, path: keyPath };
  return { key, created: true, path: keyPath };
}

/**
 * Writes `key` to `keyPath` unless the file exists; returns the key the file holds afterwards.
 * A private, fsynced temporary file is hard-linked into place and the folder fsynced
 * (durable-files): the link fails if another process created the key meanwhile, and nobody
 * ever reads a half-written key file.
 */
async function createKeyFile(keyPath: string, key: string): Promise<string> {
  try {
    await createFileDurably(keyPath, `${key}\n`, { mode: 0o600 });
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return await readExistingKey(keyPath, e);
    throw e;
  }
}

async function readExistingKey(keyPath: string, cause: unknown): Promise<string> {
  const existing = await readKeyFile(keyPath);
  if (existing === undefined) throw cause;
  return existing;
}

async function readKeyFile(keyPath: string): Promise<string | undefined> {
  let content: string;
  try {
    content = await fs.readFile(keyPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const key = content.trim();
  const problem = operatorKeyProblem(key);
  if (problem !== undefined) throw new Error(`The operator key in ${keyPath} ${problem}; fix or delete the file.`);
  return key;
}
