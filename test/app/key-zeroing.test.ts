/**
 * Content keys are zeroed after use on every path. The key-zeroing helpers are wrapped (not
 * replaced) so the test sees every content key the service holds — the fresh ones of uploads
 * and backup segments, the unwrapped ones of downloads, rotation, verify and restore — and
 * checks that each is all zeros once the operation is over, including downloads that are
 * abandoned before or during reading.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AzureBlobStoreFactory } from '../../shared/adapters/blob/azure-blob-store';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { FileService } from '../../shared/app/files';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import type { Clock } from '../../shared/ports/runtime';
import { startAzurite } from '../support/azurite';
import { rejectionOf } from '../support/rejection';

const seen = vi.hoisted(() => ({ keys: [] as Buffer[] }));

vi.mock('../../shared/crypto', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../shared/crypto')>();
  return {
    ...orig,
    withNewContentKey: <T>(fn: (cek: Buffer) => Promise<T>) =>
      orig.withNewContentKey((cek) => {
        seen.keys.push(cek);
        return fn(cek);
      }),
    withContentKey: <T>(
      ...[keys, name, data, fn]: [
        Parameters<typeof orig.withContentKey>[0],
        string,
        Parameters<typeof orig.withContentKey>[2],
        (cek: Buffer) => Promise<T>,
      ]
    ) =>
      orig.withContentKey(keys, name, data, (cek) => {
        seen.keys.push(cek);
        return fn(cek);
      }),
  };
});
vi.mock('../../shared/app/file-binding', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../shared/app/file-binding')>();
  return {
    ...orig,
    openFileKey: async (...args: Parameters<typeof orig.openFileKey>) => {
      const k = await orig.openFileKey(...args);
      seen.keys.push(k);
      return k;
    },
  };
});

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const zero = (b: Buffer) => b.every((x) => x === 0);

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let dir: string;
let tenants: TenantService;
let files: FileService;
let backups: BackupService;
let p: UserPrincipal;
let recordId: string;

beforeAll(async () => {
  azurite = await startAzurite();
  dir = mkdtempSync(join(tmpdir(), 'kz-'));
  const clock: Clock = { now: () => new Date() };
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(dir, keys, clock);
  tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  const records = new RecordService(tenants, clock);
  const blobs = AzureBlobStoreFactory.fromConnectionString(azurite.connectionString);
  files = new FileService({ tenants, records, keys, blobs, clock, maxFileBytes: 1 << 30 });
  backups = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, records, blobs });
  await tenants.createTenant({ id: 'op' }, { id: 'kz-zero', name: 'Z', admin: { email: 'a@z.test', password: PW } }, req);
  p = await tenants.authenticate(
    'kz-zero',
    `Bearer ${(await tenants.login({ tenantId: 'kz-zero', email: 'a@z.test', password: PW })).access_token}`,
  );
  await records.defineType(p, { type: 'doc', schema: { type: 'object' } }, req);
  recordId = (await records.createRecord(p, { type: 'doc', data: {} }, req)).record.id;
});
afterAll(async () => {
  await tenants?.close();
  await azurite?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

async function* once(b: Uint8Array) {
  yield b;
}

/** Runs `op` and returns the content keys the service held during it. */
async function keysDuring(op: () => Promise<unknown>): Promise<Buffer[]> {
  const before = seen.keys.length;
  await op();
  return seen.keys.slice(before);
}

describe('content keys are zeroed after use on every path', () => {
  const big = randomBytes(400_000);
  let fileId: string;

  it('uploads and replacements (also when the body fails midway)', async () => {
    const up = await keysDuring(async () => {
      fileId = (
        await files.upload(p, { type: 'doc', id: recordId, name: 'a.bin', contentType: 'application/octet-stream', body: once(big) }, req)
      ).file.fileId;
    });
    const replace = await keysDuring(() =>
      files.upload(
        p,
        { type: 'doc', id: recordId, name: 'a.bin', contentType: 'application/octet-stream', replaceFileId: fileId, body: once(big) },
        req,
      ),
    );
    const failed = await keysDuring(async () => {
      async function* broken() {
        yield randomBytes(1000);
        throw new Error('client went away');
      }
      await rejectionOf(
        files.upload(p, { type: 'doc', id: recordId, name: 'b.bin', contentType: 'application/octet-stream', body: broken() }, req),
      );
    });
    for (const ks of [up, replace, failed]) {
      expect(ks).toHaveLength(1);
      expect(ks.every(zero)).toBe(true);
    }
  });

  it('downloads: read to the end, a range, abandoned before reading, abandoned midway, 416', async () => {
    const read = async (it: AsyncIterable<Uint8Array>) => {
      const parts: Buffer[] = [];
      for await (const c of it) parts.push(Buffer.from(c));
      return Buffer.concat(parts);
    };
    const full = await keysDuring(async () =>
      expect(
        createHash('sha256')
          .update(await read((await files.open(p, { type: 'doc', id: recordId, fileId })).body))
          .digest('hex'),
      ).toBe(createHash('sha256').update(big).digest('hex')),
    );
    const range = await keysDuring(async () =>
      read((await files.open(p, { type: 'doc', id: recordId, fileId, range: { start: 10, end: 20 } })).body),
    );
    // Abandoned before the first read: the key is alive while the body waits, zero once it is returned.
    let pendingKey: Buffer[] = [];
    const before = await keysDuring(async () => {
      const o = await files.open(p, { type: 'doc', id: recordId, fileId });
      pendingKey = seen.keys.slice(-1);
      expect(zero(pendingKey[0]!)).toBe(false);
      await o.body[Symbol.asyncIterator]().return?.();
    });
    const midway = await keysDuring(async () => {
      const o = await files.open(p, { type: 'doc', id: recordId, fileId });
      const it = o.body[Symbol.asyncIterator]();
      await it.next();
      await it.next();
      expect(zero(seen.keys.at(-1)!)).toBe(false);
      await it.return?.();
    });
    const unsatisfiable = await keysDuring(async () =>
      expect(
        (await rejectionOf(files.open(p, { type: 'doc', id: recordId, fileId, range: { start: big.length + 5 } }))) as { status?: number },
      ).toMatchObject({ status: 416 }),
    );
    for (const ks of [full, range, before, midway, unsatisfiable]) {
      expect(ks).toHaveLength(1);
      expect(ks.every(zero)).toBe(true);
    }
  });

  it('key rotation, backups, verify and restores', async () => {
    const rotation = await keysDuring(() => files.rotateKey('kz-zero', { newVersion: true }));
    expect(rotation.length).toBeGreaterThanOrEqual(2);
    const target = new FolderBackupTarget('own-cloud', join(dir, 'backup'));
    const backup = await keysDuring(async () => expect((await backups.backupTenant('kz-zero', target)).ok).toBe(true));
    expect(backup.length).toBeGreaterThanOrEqual(1);
    const restore = await keysDuring(() =>
      backups.restore(
        { id: 'op' },
        { tenant: 'kz-zero', target, asOf: new Date(Date.now() + 60_000), into: 'kz-zero-copy' },
        { ...req, acceptPartial: true },
      ),
    );
    // verify + import read each segment key, and each file's key is re-wrapped.
    expect(restore.length).toBeGreaterThanOrEqual(2 * backup.length + 2);
    for (const ks of [rotation, backup, restore]) expect(ks.every(zero)).toBe(true);
  });
});
