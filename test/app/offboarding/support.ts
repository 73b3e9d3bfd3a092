/** Helpers of the offboarding tests: a services world with a clock the test moves, and disk scans. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UserPrincipal } from '../../../shared/app/service';
import { generateRecoveryKeyPair } from '../../../shared/app/recovery/recovery-key';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { findEncryptionData, parseEncryptionData, wrappedKeyOf } from '../../../shared/crypto';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import type { WrappedKey } from '../../../shared/ports/key-provider';
import type { RunningCosmosStandin } from '../../../host/cosmos-standin';
import { e2eOnCosmos, freePort } from '../../support/host-process';
import { tierWith } from '../../support/noting-tier';

export const PW = 'a long enough password';
export const req = { correlationId: 'offboarding-test' };
export const op = { id: 'operator-key:test' };

export interface OffboardWorld {
  dir: string;
  clock: { t: number; now(): Date };
  s: Services;
  recoveryPrivateKeyPem: string;
  /** The Cosmos stand-in's endpoint when the world runs on STORE=cosmos-standin (the `cosmos-e2e` project). */
  cosmosEndpoint?: string;
  close(): Promise<void>;
}

/**
 * Services in a temp data folder: three local folder tiers, a recovery key (so local keys are
 * escrowed to the tiers). Tenant stores embedded, or — in the `cosmos-e2e` vitest project
 * (E2E_STORE=cosmos-standin) — the Cosmos adapter against an in-process change-feed stand-in,
 * as `npm start` runs STORE=cosmos-standin (keys, files and tiers stay local folders).
 */
export async function offboardWorld(start = '2026-12-01T10:00:00.000Z', onCosmos = e2eOnCosmos): Promise<OffboardWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'offboard-'));
  const pair = await generateRecoveryKeyPair();
  writeFileSync(join(dir, 'recovery-public.pem'), pair.publicKeyPem);
  const clock = {
    t: Date.parse(start),
    now() {
      return new Date(this.t);
    },
  };
  const env: Record<string, string> = { DATA_DIR: dir, LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14' };
  let standin: RunningCosmosStandin | undefined;
  if (onCosmos) {
    env.STORE = 'cosmos-standin';
    env.COSMOS_STANDIN_PORT = String(await freePort());
  }
  const config = loadConfig(env);
  if (config.store.kind === 'cosmos' && config.store.standin) {
    const { startLocalCosmos } = await import('../../../host/cosmos-standin');
    standin = await startLocalCosmos(config.store.standin.port, config.store.database);
  }
  const s = await createServices(config, clock);
  return {
    dir,
    clock,
    s,
    recoveryPrivateKeyPem: pair.privateKeyPem,
    ...(standin ? { cosmosEndpoint: standin.endpoint } : {}),
    async close() {
      await s.close();
      await standin?.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

export interface SeededTenant {
  id: string;
  admin: UserPrincipal;
  recordId: string;
  fileId: string;
  /** Plaintext that only this tenant's record and file hold. */
  marks: string[];
}

/** A tenant with a type, a record and a file, each holding a unique plaintext mark. */
export async function seedTenant(s: Services, id: string): Promise<SeededTenant> {
  await s.tenants.createTenant(op, { id, name: id, admin: { email: `admin@${id}.test`, password: PW } }, req);
  const admin = await s.tenants.authenticate(
    id,
    `Bearer ${(await s.tenants.login({ tenantId: id, email: `admin@${id}.test`, password: PW })).access_token}`,
  );
  await s.records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
  const recordMark = `RECORD-PLAINTEXT-${id}-${randomBytes(6).toString('hex')}`;
  const fileMark = `FILE-PLAINTEXT-${id}-${randomBytes(6).toString('hex')}`;
  const created = await s.records.createRecord(admin, { type: 'doc', data: { note: recordMark } }, req);
  const recordId = created.record.id;
  const body = (async function* () {
    yield Buffer.from(`${fileMark}\n`.repeat(500));
  })();
  const up = await s.files.upload(admin, { type: 'doc', id: recordId, name: 'secret.txt', contentType: 'text/plain', body }, req);
  return { id, admin, recordId, fileId: up.file.fileId, marks: [recordMark, fileMark] };
}

/** Every regular file under `root`, recursively. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** Files under `root` whose bytes contain any of `needles` (as UTF-8). */
export function filesContaining(root: string, needles: string[]): string[] {
  const bs = needles.map((n) => Buffer.from(n, 'utf8'));
  return filesUnder(root).filter((f) => {
    const bytes = readFileSync(f);
    return bs.some((b) => bytes.includes(b));
  });
}

/**
 * Every wrapped key stored in JSON files under `root`: objects with keyId/algorithm/wrapped
 * (backup manifests, store.json) and `encryptiondata` metadata values (file blobs).
 */
export function wrappedKeysUnder(root: string): WrappedKey[] {
  const out: WrappedKey[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    if (typeof o.keyId === 'string' && typeof o.algorithm === 'string' && typeof o.wrapped === 'string')
      out.push({ keyId: o.keyId, algorithm: o.algorithm, wrapped: o.wrapped });
    const ed = findEncryptionData(Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string')));
    if (ed) out.push(wrappedKeyOf(parseEncryptionData(ed)));
    for (const x of Object.values(o)) visit(x);
  };
  for (const f of filesUnder(root)) {
    const bytes = readFileSync(f);
    if (bytes[0] !== 0x7b /* { */ && bytes[0] !== 0x5b /* [ */) continue;
    try {
      visit(JSON.parse(bytes.toString('utf8')));
    } catch {
      // Not JSON (ciphertext that happens to start with a brace).
    }
  }
  return out;
}

/** A tier under an immutability policy: every deletion refused, as Azure answers BlobImmutableDueToPolicy. */
export function writeOnce(t: BackupTarget): BackupTarget {
  return tierWith(t, {
    delete: async () => {
      throw new Error(`Backup target ${t.name}: delete failed (HTTP 409, BlobImmutableDueToPolicy)`);
    },
  });
}
