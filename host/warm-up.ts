/**
 * Start-up warm-up of the local host (issue 11: the first request to a cold tenant). A freshly
 * started process pays one-time costs on its first request that have nothing to do with the
 * tenant it asks for: the first encrypted libSQL open, schema check and statements (native
 * code paths, V8 compiling the store's code), the first HS256 verification (jose and
 * WebCrypto set themselves up), the first AES key wrap and GCM decryption (OpenSSL fetches each
 * cipher once), and the HTTP pipeline (routing, the operation layer, the log line). Measured
 * here, that first request took several times a later cold tenant's.
 *
 * This runs those paths once before the host says it has started, on material that belongs to
 * no tenant: a throwaway database in a fresh temporary folder, encrypted with a random key that
 * lives only for this call (zeroed after, the folder removed), a token signed and verified with
 * a random secret, and one GET /api/health through the host itself. No tenant is opened, no
 * tenant key is unwrapped and nothing is written under DATA_DIR. Best effort: a step that fails
 * is reported to `log` and the host starts anyway (it only pays the cost later).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../shared/adapters/embedded/sqlite-event-store';
import { SqliteProjectionStore } from '../shared/adapters/embedded/sqlite-projection-store';
import { TokenService } from '../shared/app/tokens';
import { systemClock } from '../shared/ports/runtime';

export interface WarmUpOptions {
  /** The host's base URL (`http://localhost:PORT`): one GET /api/health goes through it. */
  url?: string;
  /** Where the throwaway database goes (a fresh folder under it, removed after): default the OS temp folder. */
  scratchDir?: string;
  log?: (line: string) => void;
}

/** What ran (for tests): each step's name and whether it finished. */
export type WarmUpReport = Array<{ step: string; ok: boolean }>;

export async function warmUp(options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const report: WarmUpReport = [];
  const step = async (name: string, f: () => Promise<void> | void) => {
    try {
      await f();
      report.push({ step: name, ok: true });
    } catch (e) {
      report.push({ step: name, ok: false });
      options.log?.(`Warm-up step "${name}" failed (the first request pays its cost instead): ${(e as Error)?.message ?? e}`);
    }
  };
  await step('store', () => warmUpStore(options.scratchDir ?? tmpdir()));
  await step('tokens', warmUpTokens);
  await step('ciphers', warmUpCiphers);
  const url = options.url;
  if (url) await step('http', () => warmUpHttp(url));
  return report;
}

/** An encrypted libSQL database that is nobody's: open, schema, an append, reads, close, removed. */
async function warmUpStore(scratchDir: string): Promise<void> {
  const dir = await mkdtemp(join(scratchDir, 'tenant-ledger-warm-up-'));
  const key = randomBytes(32);
  try {
    const hex = key.toString('hex');
    // A lazy store as the tenant directory keeps them: created, closed, then opened again the
    // way a cold tenant's database is (an existing encrypted file, its schema already there).
    const store = new SqliteEventStore('warm-up', join(dir, 'events.db'), () => Promise.resolve(hex), systemClock);
    try {
      await store.open();
      new SqliteProjectionStore(store.database);
      const author = { kind: 'system', id: 'warm-up' } as const;
      await store.append('warm-up', 0, [{ type: 'WarmedUp', data: {} }], { author, correlationId: 'warm-up' });
      store.close();
      await store.open();
      await store.readStream('warm-up', { maxCount: 1 });
      await store.readStream('warm-up');
      await store.streamVersion('warm-up');
    } finally {
      store.close();
    }
  } finally {
    key.fill(0);
    await rm(dir, { recursive: true, force: true });
  }
}

/** One HS256 token signed and verified with a random secret (no tenant's). */
async function warmUpTokens(): Promise<void> {
  const secret = randomBytes(32);
  try {
    const tokens = new TokenService(systemClock, 60);
    const claims = { tenantId: 'warm-up', userId: 'warm-up', epoch: 0 };
    await tokens.verify(secret, claims.tenantId, await tokens.issue(secret, claims));
  } finally {
    secret.fill(0);
  }
}

/** The ciphers the key provider uses (AES key wrap, AES-256-GCM), once each with random keys. */
function warmUpCiphers(): void {
  const key = randomBytes(32);
  try {
    const iv = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
    const wrap = createCipheriv('id-aes256-wrap', key, iv);
    const wrapped = Buffer.concat([wrap.update(randomBytes(32)), wrap.final()]);
    const unwrap = createDecipheriv('id-aes256-wrap', key, iv);
    Buffer.concat([unwrap.update(wrapped), unwrap.final()]).fill(0);
    const gcmIv = randomBytes(12);
    const seal = createCipheriv('aes-256-gcm', key, gcmIv);
    const sealed = Buffer.concat([seal.update(randomBytes(32)), seal.final()]);
    const open = createDecipheriv('aes-256-gcm', key, gcmIv);
    open.setAuthTag(seal.getAuthTag());
    Buffer.concat([open.update(sealed), open.final()]).fill(0);
  } finally {
    key.fill(0);
  }
}

/** One GET /api/health through the host: routing, the operation layer and the log line run once. */
async function warmUpHttp(url: string): Promise<void> {
  const res = await fetch(`${url}/api/health`);
  await res.arrayBuffer();
  if (res.status >= 500 && res.status !== 503) throw new Error(`GET /api/health answered ${res.status}`);
}
