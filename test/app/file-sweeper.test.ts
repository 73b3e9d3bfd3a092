import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureBlobStoreFactory } from '../../shared/adapters/blob/azure-blob-store';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { FileService } from '../../shared/app/files';
import { RecordService } from '../../shared/app/records';
import { TenantService } from '../../shared/app/service';
import type { Clock } from '../../shared/ports/runtime';
import { startAzurite } from '../support/azurite';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
let azurite: Awaited<ReturnType<typeof startAzurite>>;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite.close();
});

async function* bytes(n: number) {
  yield randomBytes(n);
}

for (const kind of ['azure', 'folder'] as const)
  it(`the sweeper deletes blobs no FileAttached event references, and unfinished uploads, only old ones (${kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-'));
    const clock: Clock & { t: number } = {
      t: Date.now(),
      now() {
        return new Date(this.t);
      },
    };
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    const directory = new EmbeddedTenantDirectory(dir, keys, clock);
    const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
    const records = new RecordService(tenants, clock);
    const blobs =
      kind === 'azure'
        ? AzureBlobStoreFactory.fromConnectionString(azurite.connectionString)
        : new FolderBlobStoreFactory(join(dir, 'files'));
    const files = new FileService({ tenants, records, keys, blobs, clock, maxFileBytes: 1 << 30 });
    try {
      await tenants.createTenant({ id: 'op' }, { id: 'sweep', name: 'S', admin: { email: 'a@s.test', password: PW } }, req);
      const p = await tenants.authenticate(
        'sweep',
        `Bearer ${(await tenants.login({ tenantId: 'sweep', email: 'a@s.test', password: PW })).access_token}`,
      );
      await records.defineType(p, { type: 'doc', schema: { type: 'object' } }, req);
      const rec = await records.createRecord(p, { type: 'doc', data: {} }, req);
      const kept = await files.upload(
        p,
        { type: 'doc', id: rec.record.id, name: 'a.txt', contentType: 'text/plain', body: bytes(100) },
        req,
      );
      // An orphan: a blob written as by an upload that crashed before its event.
      const store = await blobs.forTenant('sweep');
      await store.upload(`doc/${rec.record.id}/f_${'o'.repeat(22)}/crashed`, bytes(10), { metadata: {} });
      // An unfinished upload, as kill -9 mid-upload leaves it: staged blocks / a temp file.
      if (kind === 'azure') {
        const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('t-sweep');
        await container
          .getBlockBlobClient(`doc/${rec.record.id}/f_${'u'.repeat(22)}/half`)
          .stageBlock(Buffer.from('b-0').toString('base64'), randomBytes(4096), 4096);
      } else {
        writeFileSync(join(dir, 'files', 'sweep', 'tmp', 'deadbeef.data'), randomBytes(4096));
      }
      const young = await files.sweepOrphans('sweep');
      expect([young.deleted, young.unfinished]).toEqual([0, 0]); // too young
      clock.t += 2 * 60 * 60_000;
      const r = await files.sweepOrphans('sweep', { minAgeMs: 60 * 60_000 });
      // Azure cannot tell the size of staged blocks from a listing.
      expect(r).toEqual({ checked: 2, deleted: 1, unfinished: 1, unfinishedBytes: kind === 'azure' ? 0 : 4096 });
      if (kind === 'folder') expect(readdirSync(join(dir, 'files', 'sweep', 'tmp'))).toEqual([]);
      const names: string[] = [];
      for await (const b of store.list()) names.push(b.name);
      expect(names).toHaveLength(1);
      expect(names[0]).toContain(kept.file.fileId);
      const opened = await files.open(p, { type: 'doc', id: rec.record.id, fileId: kept.file.fileId });
      let n = 0;
      for await (const c of opened.body) n += c.byteLength;
      expect(n).toBe(100);
    } finally {
      await tenants.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
