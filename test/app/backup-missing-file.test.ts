/**
 * One lost file must not make every restore fail. A file's object is deleted from the file
 * store (Azurite, through the BlobStore port) and from every tier (real folder targets): the
 * backups report the file they could not copy, a restore brings the log and every other file
 * back and lists the missing one, and a drill reports "degraded" with the count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { AzureBlobStoreFactory } from '../../shared/adapters/blob/azure-blob-store';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { FileService } from '../../shared/app/files';
import { RecordService } from '../../shared/app/records';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import { startAzurite, type AzuriteTestServer } from '../support/azurite';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };

let az: AzuriteTestServer;
let dir: string;
let tenants: TenantService;
let records: RecordService;
let files: FileService;
let blobs: AzureBlobStoreFactory;
let backups: BackupService;
let targets: FolderBackupTarget[];
let admin: UserPrincipal;

async function* bytes(b: Buffer) {
  yield new Uint8Array(b);
}

beforeAll(async () => {
  az = await startAzurite();
  dir = mkdtempSync(join(tmpdir(), 'bk-missing-'));
  const clock = { now: () => new Date() };
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  const directory = new EmbeddedTenantDirectory(dir, keys, clock);
  tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  records = new RecordService(tenants, clock);
  blobs = AzureBlobStoreFactory.fromConnectionString(az.connectionString);
  files = new FileService({ tenants, records, keys, blobs, clock, maxFileBytes: 1 << 20 });
  targets = [new FolderBackupTarget('own-cloud', join(dir, 'tier-own')), new FolderBackupTarget('azure', join(dir, 'tier-azure'))];
  backups = new BackupService({
    stores: tenants.tenantStores,
    tenants,
    directory,
    keys,
    clock,
    records,
    blobs,
    targets,
    exclusiveStore: true,
  });
  await tenants.createTenant(op, { id: 'acme', name: 'acme', admin: { email: 'a@a.test', password: PW } }, req);
  admin = await tenants.authenticate(
    'acme',
    `Bearer ${(await tenants.login({ tenantId: 'acme', email: 'a@a.test', password: PW })).access_token}`,
  );
  await records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
}, 60_000);

afterAll(async () => {
  await tenants?.close();
  await az?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

it('a file lost from the store and every tier: backups report it, restores list it, drills are degraded', async () => {
  const rec = await records.createRecord(admin, { type: 'doc', data: { title: 'two files' } }, req);
  const kept = Buffer.from('kept file '.repeat(100));
  const lost = Buffer.from('lost file '.repeat(100));
  const a = await files.upload(
    admin,
    { type: 'doc', id: rec.record.id, name: 'kept.txt', contentType: 'text/plain', body: bytes(kept) },
    req,
  );
  const b = await files.upload(
    admin,
    { type: 'doc', id: rec.record.id, name: 'lost.txt', contentType: 'text/plain', body: bytes(lost) },
    req,
  );
  for (const r of await backups.backupAllTiers('acme')) expect(r, r.tier).toMatchObject({ ok: true, files: 2 });

  // The lost file's blob, from the store and from every tier.
  const store = await blobs.forTenant('acme');
  const names: string[] = [];
  for await (const x of store.list()) names.push(x.name);
  const lostName = names.find((n) => n.includes(`/${b.file.fileId}/`))!;
  expect(lostName).toBeDefined();
  await store.delete(lostName);
  for (const t of targets) for await (const o of t.list(`tenants/acme/files/${encodeURIComponent(lostName)}`)) await t.delete(o.key);

  // An incremental run does not reread the log's old references; the daily full run does.
  const full = await backups.backupAllTiers('acme', { full: true });
  for (const r of full)
    expect(r, r.tier).toMatchObject({
      ok: false,
      missingFiles: { count: 1, names: [lostName] },
      error: expect.stringContaining('1 file(s) the log references could not be copied'),
    });
  // Reported on every later run too, until the file is back.
  for (const r of await backups.backupAllTiers('acme')) expect(r, r.tier).toMatchObject({ ok: false, missingFiles: { count: 1 } });
  const status = await backups.status('acme');
  for (const s of status) expect(s).toMatchObject({ ok: true, missingFiles: 1 });

  const restored = await backups.restore(
    op,
    { tenant: 'acme', target: targets[0]!, asOf: new Date(full[0]!.coveredUntil!), into: 'acme-back' },
    req,
  );
  expect(restored).toMatchObject({ missingFiles: [lostName], files: 1, partial: false });
  const p = await tenants.authenticate(
    'acme-back',
    `Bearer ${(await tenants.login({ tenantId: 'acme-back', email: 'a@a.test', password: PW })).access_token}`,
  );
  expect((await records.getRecord(p, { type: 'doc', id: rec.record.id })).data).toEqual({ title: 'two files' });
  const opened = await files.open(p, { type: 'doc', id: rec.record.id, fileId: a.file.fileId });
  const chunks: Buffer[] = [];
  for await (const c of opened.body) chunks.push(Buffer.from(c));
  expect(Buffer.concat(chunks).equals(kept)).toBe(true);

  const drills = await backups.drillTenants(op, { tenants: ['acme'] }, req);
  for (const d of drills) expect(d.result, d.tier).toMatchObject({ ok: false, outcome: 'degraded', missingFiles: 1 });
  // No scratch tenant is left.
  expect((await tenants.listTenants()).map((t) => t.id).sort()).toEqual(['acme', 'acme-back']);
}, 60_000);
